"""Sharing recipes safely: what a recipe is (a preset, a PNG, a run folder, a bundle), the
identities of the files and weights a run used, bundles, and the tools a preset-sharing
community needs (``pixengine share``, ``info``, ``presets validate``, ``presets diff``)."""

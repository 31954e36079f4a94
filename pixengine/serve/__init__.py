"""pixengine's web studio: ``pixengine serve``.

A local ASGI application (FastAPI under uvicorn) whose page uses only its HTTP API, which uses
only pixengine's Python API. Run folders stay the source of truth: the studio's SQLite index
is rebuilt from them, and every run it starts is an ordinary run folder.

One module, one job:

=====================  ==========================================================================
``cli``                the ``serve`` subcommand (imports nothing heavy until it runs)
``settings``           what the server was started with (outputs, workers, token, limits)
``app``                builds the FastAPI application: routes, static page, lifespan
``security``           loopback, token, Host and Origin checks on every request
``errors``             one JSON shape for every 4xx, and no traceback ever
``folders``            the studio's view of a run folder: status, files it may serve, new folders
``index``              the SQLite index of the outputs folder, rebuilt from the run folders
``uploads``            images sent by the browser: size-capped, decoded, re-encoded, staged
``catalog``            presets, their thumbnails and the shipped ``pkg:`` image assets
``option_schema``      a run's components and options as form fields
``bases``              what a form starts from: a preset, a past run, a dropped PNG or bundle
``submissions``        a POSTed run checked by pixengine's own validator, and made a job
``queue``              the server side of the worker processes: pending jobs, dispatch, cancel
``worker``             the worker process: runs jobs with ``pixengine.run``
``live_hooks``         the lifecycle hooks a worker registers to report progress and images
``live``               live state of running jobs, fanned out to server-sent event streams
``studio``             the services the routes call, tying the above together
``routes``             the HTTP API, one module per resource
``models``             the API's JSON bodies, declared for /openapi.json
``bundles``            Share: the adapter to ``pixengine.sharing.bundle``
``thumbnails``         small JPEGs of run images for the gallery
=====================  ==========================================================================
"""

"""The data files SleepFM Studio reads, installed as the package ``sleepfm_engine._resources``.

This folder stays at the top of the repository; ``pyproject.toml`` maps it into the engine
package so that a wheel carries it, and ``sleepfm_engine.resources`` reads it through
``importlib.resources`` in an editable install and a wheel alike.
"""

"""A local stand-in for the LINE Platform: the Messaging API, signed webhooks and a control API.

Run it alone with ``python -m emulator --port 8081``, under gunicorn with
``gunicorn "emulator:create_emulator_app()"`` (settings from EMULATOR_DATABASE_URL,
LINE_CHANNEL_SECRET, LINE_CHANNEL_ACCESS_TOKEN, EMULATOR_WEBHOOK_URL, EMULATOR_WEBHOOK_TIMEOUT),
or mount it in another app at ``/emulator`` with werkzeug's DispatcherMiddleware.
"""

from emulator.app import create_emulator_app, register_users

__all__ = ["create_emulator_app", "register_users"]

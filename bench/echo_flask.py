"""The baseline of Samoe's benchmarks: line-bot-sdk-python's `examples/flask-echo`, v3 API.

Written here in the example's shape (`app_with_handler.py` with `linebot.v3`): the SDK's
`WebhookHandler` checks `X-Line-Signature` and parses the body, a `MessageEvent` with
`TextMessageContent` is echoed synchronously with `reply_message_with_http_info`, a new
`ApiClient` per event as in the example, and the webhook answers 200 after the reply.
The only change: `Configuration(host=...)` points the SDK at the LINE emulator.

Serve: `gunicorn -w 2 -b 127.0.0.1:PORT bench.echo_flask:app` with LINE_CHANNEL_SECRET,
LINE_CHANNEL_ACCESS_TOKEN and LINE_API_BASE_URL set.
"""

from __future__ import annotations

import os
import sys

from flask import Flask, abort, request
from linebot.v3 import WebhookHandler
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhooks import MessageEvent, TextMessageContent

channel_secret = os.getenv("LINE_CHANNEL_SECRET")
channel_access_token = os.getenv("LINE_CHANNEL_ACCESS_TOKEN")
if not channel_secret or not channel_access_token:
    print("Specify LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN.", file=sys.stderr)
    sys.exit(1)

app = Flask(__name__)
handler = WebhookHandler(channel_secret)
configuration = Configuration(
    host=os.getenv("LINE_API_BASE_URL", "https://api.line.me"),
    access_token=channel_access_token,
)


@app.route("/callback", methods=["POST"])
def callback():
    signature = request.headers["X-Line-Signature"]
    body = request.get_data(as_text=True)
    app.logger.info("Request body: " + body)
    try:
        handler.handle(body, signature)
    except InvalidSignatureError:
        abort(400)
    return "OK"


@handler.add(MessageEvent, message=TextMessageContent)
def handle_message(event):
    with ApiClient(configuration) as api_client:
        line_bot_api = MessagingApi(api_client)
        line_bot_api.reply_message_with_http_info(
            ReplyMessageRequest(
                reply_token=event.reply_token,
                messages=[TextMessage(text=event.message.text)],
            )
        )

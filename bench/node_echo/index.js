"use strict";

// The shape of line-bot-sdk-nodejs's examples/echo-bot (Express, one process), written for
// Samoe's benchmarks: the SDK's middleware checks X-Line-Signature and parses the body, each
// text message is echoed with the reply API, and the webhook answers once the replies are done.
// The only change from the example: MessagingApiClient's baseURL points at the LINE emulator.

const line = require("@line/bot-sdk");
const express = require("express");

const config = {
  channelSecret: process.env.LINE_CHANNEL_SECRET,
};
if (!config.channelSecret || !process.env.LINE_CHANNEL_ACCESS_TOKEN) {
  console.error("set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN");
  process.exit(1);
}

const client = new line.messagingApi.MessagingApiClient({
  channelAccessToken: process.env.LINE_CHANNEL_ACCESS_TOKEN,
  baseURL: process.env.LINE_API_BASE_URL || "https://api.line.me",
});

const app = express();

app.post("/callback", line.middleware(config), (req, res) => {
  Promise.all(req.body.events.map(handleEvent))
    .then((result) => res.json(result))
    .catch((err) => {
      console.error(err.message || err);
      res.status(500).end();
    });
});

function handleEvent(event) {
  if (event.type !== "message" || event.message.type !== "text") {
    return Promise.resolve(null);
  }
  const echo = { type: "text", text: event.message.text };
  return client.replyMessage({
    replyToken: event.replyToken,
    messages: [echo],
  });
}

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "127.0.0.1";
app.listen(port, host, () => {
  console.log(`listening on ${host}:${port}`);
});

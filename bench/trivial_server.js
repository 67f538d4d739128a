"use strict";

// A trivial HTTP server for bench/run.py: answers every request 200, once its body is read, with
// the body LINE's reply API answers (so the SDKs accept it). Used to measure the load generator's
// own ceiling, and as a "reply stub" (a LINE reply API that does nothing) that shows the echoes'
// ceiling without the emulator.

const http = require("node:http");

const port = Number(process.env.PORT || 18999);
const host = process.env.HOST || "127.0.0.1";
const body = Buffer.from(
  JSON.stringify({ sentMessages: [{ id: "461230966842064897", quoteToken: "IStG5h1Tz7b" }] }),
);

http
  .createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
      res.end(body);
    });
  })
  .listen(port, host, () => console.log(`listening on ${host}:${port}`));

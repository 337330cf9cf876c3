// A busy event loop in Node.js: the wall-clock limit ends it (time_limit).
for (;;) {}

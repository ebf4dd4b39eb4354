// One UTF-8 decoder for request bodies that refuses invalid bytes instead of rewriting them.
// A JSON string cannot carry invalid UTF-8 once decoded: the default decoder turns every bad
// byte into U+FFFD, so the keys x\xff and x\xfe would arrive as the same key "x\uFFFD". Only
// the raw body bytes can tell them apart, so JSON bodies are decoded with this (the fast path
// and connect-node alike), and a bad body is refused with invalid_argument.
export const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

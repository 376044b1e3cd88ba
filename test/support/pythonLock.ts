// Moved to versions/pythonLock.ts: the advisory verdict (scripts/advisory-verdict.ts) reads the locks too.
export * from "../../versions/pythonLock";

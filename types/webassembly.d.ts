// Node has the WebAssembly global, but @types/node 20 leaves its types to lib.dom, which the Node
// parts do not load (a DOM global there must fail to compile). What the trainer uses of it:
declare namespace WebAssembly {
  class RuntimeError extends Error {}
}

;; RUN: graph % a -o %t/world.svg
;; EXIT: 1
;; graph reads only imports and exports, but an input that cannot be merged is refused all the same,
;; with wasmtime's verdict and the offset in the input.
(module (func (export "f") call 5))

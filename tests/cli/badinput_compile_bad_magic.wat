;; RUN: compile % -o %t/out.cwasm
;; EXIT: 1
;; Bytes that are neither a binary module nor WAT text: wasmtime would read them as text and
;; complain about a missing '('; wasmweld says what is wrong and where.
(module binary "\7fELF\02\01\01\00")

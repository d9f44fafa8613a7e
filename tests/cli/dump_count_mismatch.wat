;; RUN: dump %
;; EXIT: 1
;; Two functions declared, one body: the dump shows the sections before the code section,
;; then the library's error.
(module binary
  "\00asm\01\00\00\00"
  "\01\04\01\60\00\00"
  "\03\03\02\00\00"
  "\0a\04\01\02\00\0b")

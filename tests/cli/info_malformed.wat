;; RUN: info %
;; EXIT: 1
;; The type section claims 5 bytes but only 4 follow: one line on stderr with the offset.
(module binary "\00asm\01\00\00\00" "\01\05\01\60\00\00")

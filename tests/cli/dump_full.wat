;; RUN: dump --full %
;; --full: every row of a data segment, no eliding.
(module
  (memory 1)
  (data (i32.const 0)
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef"))

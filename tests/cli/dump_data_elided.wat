;; RUN: dump %
;; RUN: dump --rows 4 %
;; A 200-byte data segment: by default 6 rows of 16 bytes, "... N bytes not shown", the last 2
;; rows; --rows 4 shows fewer. A 40-byte export name wraps onto continuation rows.
(module
  (memory 1)
  (func (export "a_rather_long_export_name_of_forty_bytes"))
  (data (i32.const 0)
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "01234567"))

;; Imports that wasm_wasi_resolve must refuse: a WASI name with the wrong
;; signature, and a name WASI does not have. Used by tests/unit/test_wasi.c.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))
  (import "wasi_unstable" "proc_exit" (func (param i64)))
  (import "wasi_snapshot_preview1" "no_such_function" (func (param i32) (result i32)))
  (import "env" "args_get" (func (param i32 i32) (result i32)))
)

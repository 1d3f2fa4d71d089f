;; SIMD constants, globals and arithmetic.
(module
  (global $k v128 (v128.const f32x4 1 2 3 4))
  (memory 1)
  (func (export "dot") (param v128 v128) (result i32)
    (i32x4.extract_lane 0
      (i32x4.dot_i16x8_s (local.get 0) (local.get 1))))
  (func (export "scale") (param i32)
    (v128.store (local.get 0)
      (f32x4.mul (v128.load (local.get 0)) (global.get $k)))))

// Negative controls: every function holds deliberately wrong expectations, so every
// test must fail (each check kind, each element-type class). tests/test_check.py
// asserts the exact failures; `iree-lab check --expect_failure` succeeds on it.

func.func @fail_true() {
  %zero = util.unfoldable_constant 0 : i32
  check.expect_true(%zero) : i32
  return
}

func.func @fail_false() {
  %v = util.unfoldable_constant 42 : i32
  check.expect_false(%v) : i32
  return
}

func.func @fail_all_true_i8() {
  %a = util.unfoldable_constant dense<[1, 0, 3, 0]> : tensor<4xi8>
  check.expect_all_true(%a) : tensor<4xi8>
  return
}

func.func @fail_all_true_i64() {
  %a = util.unfoldable_constant dense<[4294967296, 0]> : tensor<2xi64>
  check.expect_all_true(%a) : tensor<2xi64>
  return
}

func.func @fail_all_true_f32() {
  %a = util.unfoldable_constant dense<[1.0, -0.0, 2.0]> : tensor<3xf32>
  %view = hal.tensor.export %a : tensor<3xf32> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_all_true<%device>(%view) : !hal.buffer_view
  return
}

func.func @fail_eq_i32() {
  %a = util.unfoldable_constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi32>
  check.expect_eq_const(%a, dense<[[1, 2, 3], [4, 50, 6]]> : tensor<2x3xi32>) : tensor<2x3xi32>
  return
}

func.func @fail_eq_i16() {
  %a = util.unfoldable_constant dense<[7, 8]> : tensor<2xi16>
  check.expect_eq_const(%a, dense<[7, -8]> : tensor<2xi16>) : tensor<2xi16>
  return
}

func.func @fail_eq_negative_zero() {
  // Bytes differ: expect_eq is not a float comparison.
  %a = util.unfoldable_constant dense<[0.0]> : tensor<1xf32>
  check.expect_eq_const(%a, dense<[-0.0]> : tensor<1xf32>) : tensor<1xf32>
  return
}

func.func @fail_eq_shape() {
  %a = util.unfoldable_constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %b = util.unfoldable_constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  %va = hal.tensor.export %a : tensor<4xi32> -> !hal.buffer_view
  %vb = hal.tensor.export %b : tensor<2x2xi32> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_eq<%device>(%va, %vb) : !hal.buffer_view
  return
}

func.func @fail_eq_element_type() {
  %a = util.unfoldable_constant dense<[1065353216]> : tensor<1xi32>
  %b = util.unfoldable_constant dense<[1.0]> : tensor<1xf32>
  %va = hal.tensor.export %a : tensor<1xi32> -> !hal.buffer_view
  %vb = hal.tensor.export %b : tensor<1xf32> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_eq<%device>(%va, %vb) : !hal.buffer_view
  return
}

func.func @fail_almost_eq_f32_atol() {
  // Just past the default atol (1e-4).
  %a = util.unfoldable_constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.0002, 3.0]> : tensor<3xf32>) : tensor<3xf32>
  return
}

func.func @fail_almost_eq_f32_rtol() {
  // rtol scales with |rhs|: |1000 - 1011| = 11 > 0.01 * 1011.
  %a = util.unfoldable_constant dense<[1000.0]> : tensor<1xf32>
  check.expect_almost_eq_const(%a, dense<[1011.0]> : tensor<1xf32>, atol 0.0, rtol 1.0e-2) : tensor<1xf32>
  return
}

func.func @fail_almost_eq_nan_vs_number() {
  %a = util.unfoldable_constant dense<[0x7FC00000]> : tensor<1xf32>
  check.expect_almost_eq_const(%a, dense<[1.0]> : tensor<1xf32>, atol 1.0e30) : tensor<1xf32>
  return
}

func.func @fail_almost_eq_inf_expected() {
  // A non-finite expected value must match exactly, whatever the tolerance.
  %a = util.unfoldable_constant dense<[3.0e38]> : tensor<1xf32>
  check.expect_almost_eq_const(%a, dense<[0x7F800000]> : tensor<1xf32>, atol 1.0e38, rtol 1.0) : tensor<1xf32>
  return
}

func.func @fail_almost_eq_f64() {
  %a = util.unfoldable_constant dense<[1.0, 1.0e300]> : tensor<2xf64>
  check.expect_almost_eq_const(%a, dense<[1.0, 1.000001e300]> : tensor<2xf64>, atol 0.0, rtol 1.0e-9) : tensor<2xf64>
  return
}

func.func @fail_almost_eq_f16() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf16>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.5]> : tensor<2xf16>) : tensor<2xf16>
  return
}

func.func @fail_almost_eq_bf16() {
  %a = util.unfoldable_constant dense<[8.0, 16.0]> : tensor<2xbf16>
  check.expect_almost_eq_const(%a, dense<[8.0, 16.125]> : tensor<2xbf16>, atol 1.0e-2) : tensor<2xbf16>
  return
}

func.func @fail_almost_eq_shape() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = util.unfoldable_constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %va = hal.tensor.export %a : tensor<2xf32> -> !hal.buffer_view
  %vb = hal.tensor.export %b : tensor<1x2xf32> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_almost_eq<%device>(%va, %vb) : !hal.buffer_view
  return
}

func.func @fail_non_fatal() {
  // Two failing checks around a passing one: all three run (non-fatal, like EXPECT).
  %zero = util.unfoldable_constant 0 : i32
  %a = util.unfoldable_constant dense<[1, 2]> : tensor<2xi32>
  check.expect_true(%zero) : i32
  check.expect_eq_const(%a, dense<[1, 2]> : tensor<2xi32>) : tensor<2xi32>
  check.expect_eq_const(%a, dense<[1, 3]> : tensor<2xi32>) : tensor<2xi32>
  return
}

func.func @fail_many_elements() {
  // 100 differing elements: the report lists the first few and counts all.
  %a = util.unfoldable_constant dense<1.0> : tensor<10x10xf32>
  check.expect_almost_eq_const(%a, dense<2.0> : tensor<10x10xf32>) : tensor<10x10xf32>
  return
}

func.func @fail_almost_eq_f8() {
  %a = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf8E5M2>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.5]> : tensor<2xf8E5M2>) : tensor<2xf8E5M2>
  return
}

func.func @fail_eq_i1() {
  %a = util.unfoldable_constant dense<[true, false]> : tensor<2xi1>
  check.expect_eq_const(%a, dense<[true, true]> : tensor<2xi1>) : tensor<2xi1>
  return
}

func.func @fail_all_true_f64() {
  %a = util.unfoldable_constant dense<[0.0, 1.0]> : tensor<2xf64>
  %view = hal.tensor.export %a : tensor<2xf64> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_all_true<%device>(%view) : !hal.buffer_view
  return
}

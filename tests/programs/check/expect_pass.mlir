// Checks that must hold: every check export, each element-type class, tolerance edges.
// Compiled for local vmvx with f64 kept (--iree-input-demote-f64-to-f32=false
// --iree-vm-target-extension-f64); run by tests/test_check.py and `iree-lab check`.

func.func @scalars() {
  %zero = util.unfoldable_constant 0 : i32
  %one = util.unfoldable_constant 1 : i32
  %minus = util.unfoldable_constant -7 : i32
  check.expect_true(%one) : i32
  check.expect_true(%minus) : i32
  check.expect_false(%zero) : i32
  %t = arith.cmpi slt, %zero, %one : i32
  check.expect_true(%t) : i1
  %f = arith.cmpi sgt, %zero, %one : i32
  check.expect_false(%f) : i1
  return
}

func.func @all_true_integers() {
  %a = util.unfoldable_constant dense<[1, -1, 127, -128]> : tensor<4xi8>
  check.expect_all_true(%a) : tensor<4xi8>
  %b = util.unfoldable_constant dense<[1, 2, -32768]> : tensor<3xi16>
  check.expect_all_true(%b) : tensor<3xi16>
  %c = util.unfoldable_constant dense<[[1, 2], [3, -4]]> : tensor<2x2xi32>
  check.expect_all_true(%c) : tensor<2x2xi32>
  %d = util.unfoldable_constant dense<[4294967296, -1]> : tensor<2xi64>
  check.expect_all_true(%d) : tensor<2xi64>
  return
}

func.func @eq_integers() {
  %a = util.unfoldable_constant dense<[1, 2, 3]> : tensor<3xi8>
  %b = arith.addi %a, %a : tensor<3xi8>
  check.expect_eq_const(%b, dense<[2, 4, 6]> : tensor<3xi8>) : tensor<3xi8>
  %c = util.unfoldable_constant dense<[[70000, -5], [0, 9]]> : tensor<2x2xi32>
  check.expect_eq(%c, %c) : tensor<2x2xi32>
  %d = util.unfoldable_constant dense<[9007199254740993]> : tensor<1xi64>
  check.expect_eq_const(%d, dense<[9007199254740993]> : tensor<1xi64>) : tensor<1xi64>
  %e = util.unfoldable_constant dense<[true, false, true]> : tensor<3xi1>
  check.expect_eq_const(%e, dense<[true, false, true]> : tensor<3xi1>) : tensor<3xi1>
  return
}

func.func @eq_floats_bitwise() {
  // expect_eq compares bytes: NaN equals the same NaN, -0.0 is not 0.0 (see negatives).
  %a = util.unfoldable_constant dense<[0x7FC00000, 1.5, -0.0]> : tensor<3xf32>
  check.expect_eq_const(%a, dense<[0x7FC00000, 1.5, -0.0]> : tensor<3xf32>) : tensor<3xf32>
  return
}

func.func @almost_eq_default_tolerance() {
  // Defaults: atol 1e-4, rtol 0.
  %a = util.unfoldable_constant dense<[1.0, 100.0, -3.0]> : tensor<3xf32>
  check.expect_almost_eq_const(%a, dense<[1.00009, 100.00009, -3.00009]> : tensor<3xf32>) : tensor<3xf32>
  return
}

func.func @almost_eq_explicit_tolerances() {
  %a = util.unfoldable_constant dense<[1000.0, 0.5, -2.0]> : tensor<3xf32>
  // rtol scales with |rhs| (the expected value): |1000 - 1010| = 10 <= 0 + 0.01 * 1010.
  check.expect_almost_eq_const(%a, dense<[1010.0, 0.5, -2.0]> : tensor<3xf32>, atol 0.0, rtol 1.0e-2) : tensor<3xf32>
  // Exactly at the atol edge: |0.5 - 0.75| = 0.25 <= 0.25.
  check.expect_almost_eq_const(%a, dense<[1000.0, 0.75, -2.0]> : tensor<3xf32>, atol 0.25) : tensor<3xf32>
  return
}

func.func @almost_eq_non_finite() {
  // Equal NaNs pass; an infinite expected value matches only the same infinity.
  %a = util.unfoldable_constant dense<[0x7FC00000, 0x7F800000, 0xFF800000, 2.0]> : tensor<4xf32>
  check.expect_almost_eq_const(%a, dense<[0x7FC00000, 0x7F800000, 0xFF800000, 2.0]> : tensor<4xf32>) : tensor<4xf32>
  return
}

func.func @almost_eq_f64() {
  %a = util.unfoldable_constant dense<[1.0, 1.0e300]> : tensor<2xf64>
  %b = arith.addf %a, %a : tensor<2xf64>
  check.expect_almost_eq_const(%b, dense<[2.0, 2.0e300]> : tensor<2xf64>, atol 0.0, rtol 1.0e-12) : tensor<2xf64>
  // expect_all_true takes float elements only as a buffer view (with its device: 3.13
  // drops the device operand of a device-less buffer-view check, an unloadable call).
  %view = hal.tensor.export %a : tensor<2xf64> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_all_true<%device>(%view) : !hal.buffer_view
  return
}

func.func @almost_eq_f16() {
  %a = util.unfoldable_constant dense<[1.0, 0.333251953125, 65504.0]> : tensor<3xf16>
  check.expect_almost_eq_const(%a, dense<[1.0, 0.3333, 65504.0]> : tensor<3xf16>, atol 1.0e-3) : tensor<3xf16>
  return
}

func.func @almost_eq_bf16() {
  %a = util.unfoldable_constant dense<[1.0, 3.140625, -256.0]> : tensor<3xbf16>
  check.expect_almost_eq_const(%a, dense<[1.0, 3.14, -256.0]> : tensor<3xbf16>, atol 1.0e-2) : tensor<3xbf16>
  return
}

func.func @all_true_floats() {
  %a = util.unfoldable_constant dense<[1.0, -0.5, 0x7FC00000]> : tensor<3xf32>
  %view = hal.tensor.export %a : tensor<3xf32> -> !hal.buffer_view
  %c0 = arith.constant 0 : index
  %device = hal.devices.get %c0 : !hal.device
  check.expect_all_true<%device>(%view) : !hal.buffer_view
  return
}

func.func @almost_eq_f8() {
  %a = util.unfoldable_constant dense<[1.0, 2.0, -0.5]> : tensor<3xf8E4M3FN>
  check.expect_almost_eq_const(%a, dense<[1.0, 2.0, -0.5]> : tensor<3xf8E4M3FN>) : tensor<3xf8E4M3FN>
  %b = util.unfoldable_constant dense<[1.0, 3.0]> : tensor<2xf8E5M2>
  check.expect_almost_eq_const(%b, dense<[1.0, 3.5]> : tensor<2xf8E5M2>, atol 0.5) : tensor<2xf8E5M2>
  return
}

func.func @sort_constant_in_place() {
  // The dispatch sorts in place in a binding over the imported constant (module rodata):
  // IREE writes into its heap copy of the vmfb; iree_lab's read-only mmap needs a copy.
  %input = util.unfoldable_constant dense<[30, 10, 40, 20]> : tensor<4xi32>
  %sorted = iree_linalg_ext.sort dimension(0) outs(%input : tensor<4xi32>) {
  ^bb0(%a: i32, %b: i32):
    %lt = arith.cmpi slt, %a, %b : i32
    iree_linalg_ext.yield %lt : i1
  } -> tensor<4xi32>
  check.expect_eq_const(%sorted, dense<[10, 20, 30, 40]> : tensor<4xi32>) : tensor<4xi32>
  return
}

// A failing check with a source location: IREE 3.13 keeps the debug-database source map
// of one function per module (the last; with HAL code that is __init), so this program
// has no HAL and its failing function comes last. tests/test_check.py.

func.func @other() {
  %one = util.unfoldable_constant 1 : i32
  check.expect_true(%one) : i32
  return
}

func.func @fail_located() {
  %v = util.unfoldable_constant 7 : i32
  check.expect_false(%v) : i32
  return
}

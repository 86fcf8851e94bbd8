// Scalar functions: integer and float arithmetic, comparisons, control flow.
func.func @add_i32(%a: i32, %b: i32) -> i32 {
  %0 = arith.addi %a, %b : i32
  return %0 : i32
}

func.func @mul_add_i64(%a: i64, %b: i64, %c: i64) -> i64 {
  %0 = arith.muli %a, %b : i64
  %1 = arith.addi %0, %c : i64
  return %1 : i64
}

func.func @fma_f32(%a: f32, %b: f32, %c: f32) -> f32 {
  %0 = arith.mulf %a, %b : f32
  %1 = arith.addf %0, %c : f32
  return %1 : f32
}

func.func @select_max(%a: i32, %b: i32) -> i32 {
  %c = arith.cmpi sgt, %a, %b : i32
  %0 = arith.select %c, %a, %b : i32
  return %0 : i32
}

func.func @loop_sum(%n: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i32
  %ni = arith.index_cast %n : i32 to index
  %r = scf.for %i = %c0 to %ni step %c1 iter_args(%acc = %zero) -> (i32) {
    %ii = arith.index_cast %i : index to i32
    %next = arith.addi %acc, %ii : i32
    scf.yield %next : i32
  }
  return %r : i32
}

func.func @fdiv_f32(%a: f32, %b: f32) -> f32 {
  %0 = arith.divf %a, %b : f32
  return %0 : f32
}

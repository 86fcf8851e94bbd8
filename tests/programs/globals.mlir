// Stateful module: mutable globals of several types updated across calls.
util.global private mutable @counter : i32 = 0 : i32
util.global private mutable @total : i64 = 0 : i64
util.global private mutable @scale : f32 = 1.0 : f32
util.global private mutable @acc : tensor<4xf32> = dense<0.0> : tensor<4xf32>

func.func @increment(%by: i32) -> i32 {
  %0 = util.global.load @counter : i32
  %1 = arith.addi %0, %by : i32
  util.global.store %1, @counter : i32
  %t = util.global.load @total : i64
  %e = arith.extsi %by : i32 to i64
  %t2 = arith.addi %t, %e : i64
  util.global.store %t2, @total : i64
  return %1 : i32
}

func.func @get_total() -> i64 {
  %0 = util.global.load @total : i64
  return %0 : i64
}

func.func @set_scale(%s: f32) {
  util.global.store %s, @scale : f32
  return
}

func.func @accumulate(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = util.global.load @acc : tensor<4xf32>
  %s = util.global.load @scale : f32
  %empty = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
      iterator_types = ["parallel"]}
      ins(%a, %x : tensor<4xf32>, tensor<4xf32>) outs(%empty : tensor<4xf32>) {
  ^bb0(%l: f32, %r: f32, %o: f32):
    %m = arith.mulf %r, %s : f32
    %v = arith.addf %l, %m : f32
    linalg.yield %v : f32
  } -> tensor<4xf32>
  util.global.store %0, @acc : tensor<4xf32>
  return %0 : tensor<4xf32>
}

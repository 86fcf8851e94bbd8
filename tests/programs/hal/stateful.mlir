// Mutable tensor globals updated across calls, and three dispatches in one call.
util.global private mutable @acc : tensor<4xf32> = dense<0.0> : tensor<4xf32>
util.global private mutable @call_count : i32 = 0 : i32

func.func @accumulate(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = util.global.load @acc : tensor<4xf32>
  %0 = arith.addf %a, %x : tensor<4xf32>
  util.global.store %0, @acc : tensor<4xf32>
  %n = util.global.load @call_count : i32
  %c1 = arith.constant 1 : i32
  %n1 = arith.addi %n, %c1 : i32
  util.global.store %n1, @call_count : i32
  return %0 : tensor<4xf32>
}

func.func @calls() -> i32 {
  %n = util.global.load @call_count : i32
  return %n : i32
}

// Three dependent dispatches: elementwise, matmul, then a reduction.
func.func @three_dispatches(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>) -> tensor<4xf32> {
  %e = arith.mulf %a, %a : tensor<4x4xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m = linalg.matmul ins(%e, %b : tensor<4x4xf32>, tensor<4x4xf32>) outs(%init : tensor<4x4xf32>) -> tensor<4x4xf32>
  %rempty = tensor.empty() : tensor<4xf32>
  %rinit = linalg.fill ins(%zero : f32) outs(%rempty : tensor<4xf32>) -> tensor<4xf32>
  %r = linalg.reduce ins(%m : tensor<4x4xf32>) outs(%rinit : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.maximumf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<4xf32>
}

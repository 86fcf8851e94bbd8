// async-external (coarse-fences) functions for the fiber scheduler tests:
// each takes (wait fence, signal fence) after its arguments. `total` reads a
// device result back on the host, so it awaits its own queue work inside
// (hal.fence.await suspends the fiber); `scale` only queues work behind the
// wait fence and returns.
func.func @total(%a: tensor<4xi32>) -> i32 {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<i32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<i32>) -> tensor<i32>
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
      iterator_types = ["reduction"]}
      ins(%a : tensor<4xi32>) outs(%init : tensor<i32>) {
  ^bb0(%in: i32, %out: i32):
    %1 = arith.addi %in, %out : i32
    linalg.yield %1 : i32
  } -> tensor<i32>
  %r = tensor.extract %0[] : tensor<i32>
  return %r : i32
}

func.func @scale(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %a, %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// Constants inline in the program: --iree-opt-export-parameters moves them into an
// archive (and --iree-opt-splat-parameters writes a splat archive of the same keys).
util.global private mutable @w = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
util.global private mutable @v = dense<[7, 8, 9, 10, 11, 12, 13, 14]> : tensor<8xi32>

func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<8xi32>) {
  %w = util.global.load @w : tensor<2x3xf32>
  %v = util.global.load @v : tensor<8xi32>
  %empty = tensor.empty() : tensor<2x3xf32>
  %y = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x3xf32>, tensor<2x3xf32>) outs(%empty : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.mulf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %y, %v : tensor<2x3xf32>, tensor<8xi32>
}

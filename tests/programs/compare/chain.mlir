// Three matmuls, each with an elementwise epilogue fused into its dispatch, so
// the program runs three dispatches in order (tests/test_compare.py). The
// tests derive variants by replacing one marked op: STAGE1 is the epilogue of
// the second dispatch.
func.func @main(%x: tensor<8x16xf32>, %w: tensor<16x16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<8x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x16xf32>) -> tensor<8x16xf32>
  %m0 = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x16xf32>)
                      outs(%init : tensor<8x16xf32>) -> tensor<8x16xf32>
  %e0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%m0 : tensor<8x16xf32>) outs(%empty : tensor<8x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %t = math.tanh %in : f32
      linalg.yield %t : f32
  } -> tensor<8x16xf32>
  %m1 = linalg.matmul ins(%e0, %w : tensor<8x16xf32>, tensor<16x16xf32>)
                      outs(%init : tensor<8x16xf32>) -> tensor<8x16xf32>
  %half = arith.constant 0.5 : f32
  %e1 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%m1 : tensor<8x16xf32>) outs(%empty : tensor<8x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %t = arith.mulf %in, %half : f32  // STAGE1
      linalg.yield %t : f32
  } -> tensor<8x16xf32>
  %m2 = linalg.matmul ins(%e1, %w : tensor<8x16xf32>, tensor<16x16xf32>)
                      outs(%init : tensor<8x16xf32>) -> tensor<8x16xf32>
  %e2 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<8x16xf32>) outs(%empty : tensor<8x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %t = math.tanh %in : f32
      linalg.yield %t : f32
  } -> tensor<8x16xf32>
  return %e2 : tensor<8x16xf32>
}

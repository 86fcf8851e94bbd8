// iree_lab's bundled sample: a tiny MLP (matmul + bias + relu, then a reduction)
// and a scalar loop, compiled for the vmvx backend so that every dispatch can be
// run and single-stepped in iree_lab's own VM. Rebuild with tools/build_samples.py.

func.func @predict(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %w = arith.constant dense<[
    [ 0.5, -0.25,  1.0,  0.0],
    [ 1.0,  0.5,  -0.5,  0.25],
    [-1.0,  0.75,  0.25, 0.5],
    [ 0.0,  1.0,   0.5, -0.75],
    [ 0.25, 0.0,  -1.0,  1.0],
    [ 0.5, -0.5,   0.0,  0.5],
    [-0.25, 0.25,  0.75, 0.0],
    [ 1.0,  1.0,   1.0,  1.0]]> : tensor<8x4xf32>
  %b = arith.constant dense<[[0.1, -0.2, 0.3, -0.4]]> : tensor<1x4xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x4xf32>) -> tensor<1x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<1x8xf32>, tensor<8x4xf32>)
                      outs(%init : tensor<1x4xf32>) -> tensor<1x4xf32>
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%mm, %b : tensor<1x4xf32>, tensor<1x4xf32>) outs(%empty : tensor<1x4xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
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

// A ResNet-18-shaped block for VMVX benchmarks (benchmarks/vmvx_model.py) and the
// lifted-dispatch tests: a stride-2 3x3 stem to 56x56x64, a 3x3 64->64 convolution
// (ResNet-18's layer1 size) with bias, residual and relu, global average pool, fc.
#nhwc = affine_map<(n, h, w, c) -> (n, h, w, c)>
#chan = affine_map<(n, h, w, c) -> (c)>
func.func @convnet(%x: tensor<1x113x113x3xf32>, %w0: tensor<3x3x3x64xf32>, %b0: tensor<64xf32>,
                   %w1: tensor<3x3x64x64xf32>, %b1: tensor<64xf32>,
                   %fc: tensor<64x10xf32>) -> tensor<1x10xf32> {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<1x56x56x64xf32>
  %i0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<1x56x56x64xf32>) -> tensor<1x56x56x64xf32>
  %c0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w0 : tensor<1x113x113x3xf32>, tensor<3x3x3x64xf32>)
      outs(%i0 : tensor<1x56x56x64xf32>) -> tensor<1x56x56x64xf32>
  %a0 = linalg.generic {indexing_maps = [#nhwc, #chan, #nhwc],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c0, %b0 : tensor<1x56x56x64xf32>, tensor<64xf32>) outs(%e0 : tensor<1x56x56x64xf32>) {
  ^bb0(%v: f32, %b: f32, %o: f32):
    %s = arith.addf %v, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x56x56x64xf32>
  %p = tensor.pad %a0 low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x56x56x64xf32> to tensor<1x58x58x64xf32>
  %c1 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%p, %w1 : tensor<1x58x58x64xf32>, tensor<3x3x64x64xf32>)
      outs(%i0 : tensor<1x56x56x64xf32>) -> tensor<1x56x56x64xf32>
  %a1 = linalg.generic {indexing_maps = [#nhwc, #chan, #nhwc, #nhwc],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c1, %b1, %a0 : tensor<1x56x56x64xf32>, tensor<64xf32>, tensor<1x56x56x64xf32>)
      outs(%e0 : tensor<1x56x56x64xf32>) {
  ^bb0(%v: f32, %b: f32, %res: f32, %o: f32):
    %s = arith.addf %v, %b : f32
    %t = arith.addf %s, %res : f32
    %r = arith.maximumf %t, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x56x56x64xf32>
  %e1 = tensor.empty() : tensor<1x64xf32>
  %i1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x64xf32>) -> tensor<1x64xf32>
  %sum = linalg.generic {indexing_maps = [#nhwc, affine_map<(n, h, w, c) -> (n, c)>],
                         iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
      ins(%a1 : tensor<1x56x56x64xf32>) outs(%i1 : tensor<1x64xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  %n = arith.constant 3136.0 : f32
  %mean = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                          iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<1x64xf32>) outs(%e1 : tensor<1x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.divf %v, %n : f32
    linalg.yield %d : f32
  } -> tensor<1x64xf32>
  %e2 = tensor.empty() : tensor<1x10xf32>
  %i2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x10xf32>) -> tensor<1x10xf32>
  %y = linalg.matmul ins(%mean, %fc : tensor<1x64xf32>, tensor<64x10xf32>)
                     outs(%i2 : tensor<1x10xf32>) -> tensor<1x10xf32>
  return %y : tensor<1x10xf32>
}

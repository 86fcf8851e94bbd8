// A 2-D convolution (NHWC, HWCF) with bias and ReLU, for the older-release corpus.
func.func @conv2d(%in: tensor<1x6x6x2xf32>, %f: tensor<3x3x2x4xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x4x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%in, %f : tensor<1x6x6x2xf32>, tensor<3x3x2x4xf32>)
      outs(%init : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %1 = arith.maximumf %0, %init : tensor<1x4x4x4xf32>
  return %1 : tensor<1x4x4x4xf32>
}

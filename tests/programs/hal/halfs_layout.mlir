// f16 and bf16 transposes, concatenations and slices. Not in the microkernel
// flavour: there iree-compile rejects vmvx.copy of f16/bf16 elements.
func.func @f16_transpose(%a: tensor<3x5xf16>) -> tensor<5x3xf16> {
  %empty = tensor.empty() : tensor<5x3xf16>
  %0 = linalg.transpose ins(%a : tensor<3x5xf16>) outs(%empty : tensor<5x3xf16>) permutation = [1, 0]
  return %0 : tensor<5x3xf16>
}

func.func @f16_concat_slice(%a: tensor<4x3xf16>, %b: tensor<2x3xf16>) -> (tensor<6x3xf16>, tensor<2x2xf16>) {
  %c = tensor.concat dim(0) %a, %b : (tensor<4x3xf16>, tensor<2x3xf16>) -> tensor<6x3xf16>
  %s = tensor.extract_slice %c[1, 1] [2, 2] [2, 1] : tensor<6x3xf16> to tensor<2x2xf16>
  return %c, %s : tensor<6x3xf16>, tensor<2x2xf16>
}

func.func @bf16_transpose(%a: tensor<2x3x2xbf16>) -> tensor<2x2x3xbf16> {
  %empty = tensor.empty() : tensor<2x2x3xbf16>
  %0 = linalg.transpose ins(%a : tensor<2x3x2xbf16>) outs(%empty : tensor<2x2x3xbf16>) permutation = [2, 0, 1]
  return %0 : tensor<2x2x3xbf16>
}

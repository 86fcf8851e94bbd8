// Benchmark programs (benchmarks/hal_vmvx.py): a 256x256 matmul and an elementwise chain.
func.func @matmul(%lhs: tensor<256x256xf32>, %rhs: tensor<256x256xf32>) -> tensor<256x256xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<256x256xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<256x256xf32>) -> tensor<256x256xf32>
  %0 = linalg.matmul ins(%lhs, %rhs : tensor<256x256xf32>, tensor<256x256xf32>)
                     outs(%init : tensor<256x256xf32>) -> tensor<256x256xf32>
  return %0 : tensor<256x256xf32>
}

func.func @chain(%a: tensor<65536xf32>, %b: tensor<65536xf32>) -> tensor<65536xf32> {
  %0 = arith.addf %a, %b : tensor<65536xf32>
  %1 = arith.mulf %0, %a : tensor<65536xf32>
  %2 = arith.subf %1, %b : tensor<65536xf32>
  %3 = math.absf %2 : tensor<65536xf32>
  %4 = arith.maximumf %3, %a : tensor<65536xf32>
  return %4 : tensor<65536xf32>
}

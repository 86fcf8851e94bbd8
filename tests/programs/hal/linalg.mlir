// Matmul, reductions, softmax, transpose, concat and slice.
func.func @matmul(%lhs: tensor<8x16xf32>, %rhs: tensor<16x4xf32>) -> tensor<8x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<8x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x4xf32>) -> tensor<8x4xf32>
  %0 = linalg.matmul ins(%lhs, %rhs : tensor<8x16xf32>, tensor<16x4xf32>)
                     outs(%init : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

func.func @matmul_i32(%lhs: tensor<4x6xi32>, %rhs: tensor<6x3xi32>) -> tensor<4x3xi32> {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<4x3xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<4x3xi32>) -> tensor<4x3xi32>
  %0 = linalg.matmul ins(%lhs, %rhs : tensor<4x6xi32>, tensor<6x3xi32>)
                     outs(%init : tensor<4x3xi32>) -> tensor<4x3xi32>
  return %0 : tensor<4x3xi32>
}

func.func @row_sum(%a: tensor<4x8xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4xf32>) -> tensor<4xf32>
  %0 = linalg.reduce ins(%a : tensor<4x8xf32>) outs(%init : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %0 : tensor<4xf32>
}

func.func @max_all(%a: tensor<32xi32>) -> tensor<i32> {
  %min = arith.constant -2147483648 : i32
  %empty = tensor.empty() : tensor<i32>
  %init = linalg.fill ins(%min : i32) outs(%empty : tensor<i32>) -> tensor<i32>
  %0 = linalg.reduce ins(%a : tensor<32xi32>) outs(%init : tensor<i32>) dimensions = [0]
    (%in: i32, %acc: i32) {
      %m = arith.maxsi %in, %acc : i32
      linalg.yield %m : i32
    }
  return %0 : tensor<i32>
}

func.func @softmax(%a: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %empty = tensor.empty() : tensor<2x8xf32>
  %0 = linalg.softmax dimension(1) ins(%a : tensor<2x8xf32>) outs(%empty : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

func.func @transpose(%a: tensor<3x5xf32>) -> tensor<5x3xf32> {
  %empty = tensor.empty() : tensor<5x3xf32>
  %0 = linalg.transpose ins(%a : tensor<3x5xf32>) outs(%empty : tensor<5x3xf32>) permutation = [1, 0]
  return %0 : tensor<5x3xf32>
}

func.func @concat_slice(%a: tensor<4x3xf32>, %b: tensor<2x3xf32>) -> (tensor<6x3xf32>, tensor<2x2xf32>) {
  %c = tensor.concat dim(0) %a, %b : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<6x3xf32>
  %s = tensor.extract_slice %c[1, 1] [2, 2] [2, 1] : tensor<6x3xf32> to tensor<2x2xf32>
  return %c, %s : tensor<6x3xf32>, tensor<2x2xf32>
}

func.func @dynamic_matmul(%lhs: tensor<?x?xf32>, %rhs: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = tensor.dim %lhs, %c0 : tensor<?x?xf32>
  %n = tensor.dim %rhs, %c1 : tensor<?x?xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%m, %n) : tensor<?x?xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x?xf32>) -> tensor<?x?xf32>
  %0 = linalg.matmul ins(%lhs, %rhs : tensor<?x?xf32>, tensor<?x?xf32>)
                     outs(%init : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

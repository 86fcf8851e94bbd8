// Neural-network building blocks: batch matmul, convolutions, layernorm, gathers.
func.func @batch_matmul(%a: tensor<3x4x5xf32>, %b: tensor<3x5x2xf32>) -> tensor<3x4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<3x4x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  %0 = linalg.batch_matmul ins(%a, %b : tensor<3x4x5xf32>, tensor<3x5x2xf32>)
                           outs(%init : tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  return %0 : tensor<3x4x2xf32>
}

// i8 x i8 -> i32 accumulation (the integer mmt4d path once data-tiled).
func.func @batch_matmul_i8(%a: tensor<2x3x8xi8>, %b: tensor<2x8x5xi8>) -> tensor<2x3x5xi32> {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<2x3x5xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<2x3x5xi32>) -> tensor<2x3x5xi32>
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x3x8xi8>, tensor<2x8x5xi8>)
                           outs(%init : tensor<2x3x5xi32>) -> tensor<2x3x5xi32>
  return %0 : tensor<2x3x5xi32>
}

// Dynamic batch and sizes.
func.func @batch_matmul_dynamic(%a: tensor<?x?x?xf32>, %b: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %batch = tensor.dim %a, %c0 : tensor<?x?x?xf32>
  %m = tensor.dim %a, %c1 : tensor<?x?x?xf32>
  %n = tensor.dim %b, %c2 : tensor<?x?x?xf32>
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty(%batch, %m, %n) : tensor<?x?x?xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %0 = linalg.batch_matmul ins(%a, %b : tensor<?x?x?xf32>, tensor<?x?x?xf32>)
                           outs(%init : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %0 : tensor<?x?x?xf32>
}

func.func @conv2d(%in: tensor<1x6x6x2xf32>, %f: tensor<3x3x2x4xf32>) -> tensor<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x4x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%in, %f : tensor<1x6x6x2xf32>, tensor<3x3x2x4xf32>)
       outs(%init : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// Strided, dilated convolution with a bias and ReLU fused after it.
func.func @conv2d_bias_relu(%in: tensor<2x7x7x3xf32>, %f: tensor<2x2x3x2xf32>, %bias: tensor<2xf32>) -> tensor<2x3x3x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<2x3x3x2xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<2x3x3x2xf32>) -> tensor<2x3x3x2xf32>
  %conv = linalg.conv_2d_nhwc_hwcf {dilations = dense<2> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
          ins(%in, %f : tensor<2x7x7x3xf32>, tensor<2x2x3x2xf32>)
          outs(%init : tensor<2x3x3x2xf32>) -> tensor<2x3x3x2xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>,
                                        affine_map<(n, h, w, c) -> (c)>,
                                        affine_map<(n, h, w, c) -> (n, h, w, c)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
       ins(%conv, %bias : tensor<2x3x3x2xf32>, tensor<2xf32>) outs(%empty : tensor<2x3x3x2xf32>) {
    ^bb0(%x: f32, %b: f32, %o: f32):
      %s = arith.addf %x, %b : f32
      %r = arith.maximumf %s, %zero : f32
      linalg.yield %r : f32
  } -> tensor<2x3x3x2xf32>
  return %0 : tensor<2x3x3x2xf32>
}

func.func @conv2d_i8(%in: tensor<1x5x5x4xi8>, %f: tensor<3x3x4x3xi8>) -> tensor<1x3x3x3xi32> {
  %zero = arith.constant 0 : i32
  %empty = tensor.empty() : tensor<1x3x3x3xi32>
  %init = linalg.fill ins(%zero : i32) outs(%empty : tensor<1x3x3x3xi32>) -> tensor<1x3x3x3xi32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%in, %f : tensor<1x5x5x4xi8>, tensor<3x3x4x3xi8>)
       outs(%init : tensor<1x3x3x3xi32>) -> tensor<1x3x3x3xi32>
  return %0 : tensor<1x3x3x3xi32>
}

func.func @depthwise_conv(%in: tensor<1x5x5x3xf32>, %f: tensor<2x2x3xf32>) -> tensor<1x2x2x3xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x2x2x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %0 = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
       ins(%in, %f : tensor<1x5x5x3xf32>, tensor<2x2x3xf32>)
       outs(%init : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  return %0 : tensor<1x2x2x3xf32>
}

// Layer normalization over the last dimension: (x - mean) * rsqrt(var + eps) * gamma + beta.
func.func @layernorm(%x: tensor<4x16xf32>, %gamma: tensor<16xf32>, %beta: tensor<16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 16.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %rempty = tensor.empty() : tensor<4xf32>
  %rinit = linalg.fill ins(%zero : f32) outs(%rempty : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%x : tensor<4x16xf32>) outs(%rinit : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  %empty = tensor.empty() : tensor<4x16xf32>
  %centered = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>,
                                               affine_map<(i, j) -> (i, j)>],
                              iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum : tensor<4x16xf32>, tensor<4xf32>) outs(%empty : tensor<4x16xf32>) {
    ^bb0(%v: f32, %s: f32, %o: f32):
      %mean = arith.divf %s, %n : f32
      %d = arith.subf %v, %mean : f32
      linalg.yield %d : f32
  } -> tensor<4x16xf32>
  %sq = linalg.reduce ins(%centered : tensor<4x16xf32>) outs(%rinit : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %p = arith.mulf %in, %in : f32
      %s = arith.addf %p, %acc : f32
      linalg.yield %s : f32
    }
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>,
                                        affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%centered, %sq, %gamma, %beta : tensor<4x16xf32>, tensor<4xf32>, tensor<16xf32>, tensor<16xf32>)
      outs(%empty : tensor<4x16xf32>) {
    ^bb0(%d: f32, %q: f32, %g: f32, %b: f32, %o: f32):
      %var = arith.divf %q, %n : f32
      %ve = arith.addf %var, %eps : f32
      %r = math.rsqrt %ve : f32
      %y = arith.mulf %d, %r : f32
      %yg = arith.mulf %y, %g : f32
      %yb = arith.addf %yg, %b : f32
      linalg.yield %yb : f32
  } -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// Row gather with iree_linalg_ext.gather.
func.func @gather(%src: tensor<6x3xf32>, %idx: tensor<4x1xi32>) -> tensor<4x3xf32> {
  %empty = tensor.empty() : tensor<4x3xf32>
  %0 = iree_linalg_ext.gather dimension_map = [0] ins(%src, %idx : tensor<6x3xf32>, tensor<4x1xi32>)
       outs(%empty : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// Embedding-style lookup: tensor.extract at indices computed in a linalg.generic
// (index clamped to the table, column rotated by the row number).
func.func @gather_computed(%table: tensor<5x4xi32>, %ids: tensor<6xi32>) -> tensor<6x4xi32> {
  %empty = tensor.empty() : tensor<6x4xi32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
       ins(%ids : tensor<6xi32>) outs(%empty : tensor<6x4xi32>) {
    ^bb0(%id: i32, %o: i32):
      %lo = arith.constant 0 : i32
      %hi = arith.constant 4 : i32
      %c = arith.maxsi %id, %lo : i32
      %cl = arith.minsi %c, %hi : i32
      %row = arith.index_cast %cl : i32 to index
      %i = linalg.index 0 : index
      %j = linalg.index 1 : index
      %c4 = arith.constant 4 : index
      %ij = arith.addi %i, %j : index
      %col = arith.remui %ij, %c4 : index
      %v = tensor.extract %table[%row, %col] : tensor<5x4xi32>
      linalg.yield %v : i32
  } -> tensor<6x4xi32>
  return %0 : tensor<6x4xi32>
}

// Softmax over rows of 130: exp, sum and divide over many values.
func.func @softmax_wide(%a: tensor<16x130xf32>) -> tensor<16x130xf32> {
  %empty = tensor.empty() : tensor<16x130xf32>
  %0 = linalg.softmax dimension(1) ins(%a : tensor<16x130xf32>) outs(%empty : tensor<16x130xf32>) -> tensor<16x130xf32>
  return %0 : tensor<16x130xf32>
}

// Larger shapes: results longer than iree-run-module's default of 1024 printed elements.
func.func @batch_matmul_large(%a: tensor<4x32x24xf32>, %b: tensor<4x24x16xf32>) -> tensor<4x32x16xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x32x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x32x16xf32>) -> tensor<4x32x16xf32>
  %0 = linalg.batch_matmul ins(%a, %b : tensor<4x32x24xf32>, tensor<4x24x16xf32>)
                           outs(%init : tensor<4x32x16xf32>) -> tensor<4x32x16xf32>
  return %0 : tensor<4x32x16xf32>
}

func.func @conv2d_large(%in: tensor<1x18x18x4xf32>, %f: tensor<3x3x4x8xf32>) -> tensor<1x16x16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<1x16x16x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<1x16x16x8xf32>) -> tensor<1x16x16x8xf32>
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%in, %f : tensor<1x18x18x4xf32>, tensor<3x3x4x8xf32>)
       outs(%init : tensor<1x16x16x8xf32>) -> tensor<1x16x16x8xf32>
  return %0 : tensor<1x16x16x8xf32>
}

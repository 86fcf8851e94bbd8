// More ops on VMVX: transcendental functions, integer division, i64, sort, scan,
// scatter, pooling, padding and an argmax reduction with two results.
func.func @erf_log1p_pow(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0 = math.erf %x : tensor<8xf32>
  %1 = math.log1p %x : tensor<8xf32>
  %2 = math.powf %x, %x : tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
func.func @trig(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0 = math.sin %x : tensor<8xf32>
  %1 = math.cos %x : tensor<8xf32>
  %2 = math.atan2 %x, %y : tensor<8xf32>
  %3 = math.roundeven %x : tensor<8xf32>
  return %0, %1, %2, %3 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}
func.func @int_div(%a: tensor<8xi32>, %b: tensor<8xi32>) -> (tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>) {
  %0 = arith.divsi %a, %b : tensor<8xi32>
  %1 = arith.remsi %a, %b : tensor<8xi32>
  %2 = arith.divui %a, %b : tensor<8xi32>
  %3 = arith.remui %a, %b : tensor<8xi32>
  %4 = math.ctlz %a : tensor<8xi32>
  return %0, %1, %2, %3, %4 : tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>
}
func.func @i64_ops(%a: tensor<4xi64>, %b: tensor<4xi64>) -> (tensor<4xi64>, tensor<4xi64>) {
  %0 = arith.muli %a, %b : tensor<4xi64>
  %1 = arith.addi %a, %b : tensor<4xi64>
  return %0, %1 : tensor<4xi64>, tensor<4xi64>
}
func.func @sort(%a: tensor<10xf32>) -> tensor<10xf32> {
  %0 = iree_linalg_ext.sort dimension(0) outs(%a : tensor<10xf32>) {
  ^bb0(%x: f32, %y: f32):
    %c = arith.cmpf olt, %x, %y : f32
    iree_linalg_ext.yield %c : i1
  } -> tensor<10xf32>
  return %0 : tensor<10xf32>
}
func.func @cumsum(%a: tensor<2x6xi32>) -> tensor<2x6xi32> {
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<2x6xi32>
  %ea = tensor.empty() : tensor<2xi32>
  %acc = linalg.fill ins(%zero : i32) outs(%ea : tensor<2xi32>) -> tensor<2xi32>
  %0:2 = iree_linalg_ext.scan dimension(1) inclusive(true) ins(%a : tensor<2x6xi32>) outs(%e, %acc : tensor<2x6xi32>, tensor<2xi32>) {
  ^bb0(%x: i32, %y: i32):
    %s = arith.addi %x, %y : i32
    iree_linalg_ext.yield %s : i32
  } -> tensor<2x6xi32>, tensor<2xi32>
  return %0#0 : tensor<2x6xi32>
}
func.func @scatter(%upd: tensor<3x2xf32>, %idx: tensor<3x1xi32>, %dst: tensor<5x2xf32>) -> tensor<5x2xf32> {
  %0 = iree_linalg_ext.scatter dimension_map = [0] unique_indices(false) ins(%upd, %idx : tensor<3x2xf32>, tensor<3x1xi32>) outs(%dst : tensor<5x2xf32>) {
  ^bb0(%u: f32, %d: f32):
    %s = arith.addf %u, %d : f32
    iree_linalg_ext.yield %s : f32
  } -> tensor<5x2xf32>
  return %0 : tensor<5x2xf32>
}
func.func @maxpool(%in: tensor<1x6x6x2xf32>) -> tensor<1x3x3x2xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %k = tensor.empty() : tensor<2x2xf32>
  %e = tensor.empty() : tensor<1x3x3x2xf32>
  %init = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x3x3x2xf32>) -> tensor<1x3x3x2xf32>
  %0 = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
       ins(%in, %k : tensor<1x6x6x2xf32>, tensor<2x2xf32>) outs(%init : tensor<1x3x3x2xf32>) -> tensor<1x3x3x2xf32>
  return %0 : tensor<1x3x3x2xf32>
}
func.func @pad(%a: tensor<2x3xf32>) -> tensor<4x6xf32> {
  %c = arith.constant -7.5 : f32
  %0 = tensor.pad %a low[1, 2] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %c : f32
  } : tensor<2x3xf32> to tensor<4x6xf32>
  return %0 : tensor<4x6xf32>
}
func.func @argmax(%a: tensor<3x5xf32>) -> tensor<3xi32> {
  %ninf = arith.constant 0xFF800000 : f32
  %z = arith.constant 0 : i32
  %ev = tensor.empty() : tensor<3xf32>
  %ei = tensor.empty() : tensor<3xi32>
  %v = linalg.fill ins(%ninf : f32) outs(%ev : tensor<3xf32>) -> tensor<3xf32>
  %i = linalg.fill ins(%z : i32) outs(%ei : tensor<3xi32>) -> tensor<3xi32>
  %0:2 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i)>],
                       iterator_types = ["parallel", "reduction"]}
       ins(%a : tensor<3x5xf32>) outs(%v, %i : tensor<3xf32>, tensor<3xi32>) {
    ^bb0(%x: f32, %bv: f32, %bi: i32):
      %j = linalg.index 1 : index
      %ji = arith.index_cast %j : index to i32
      %gt = arith.cmpf ogt, %x, %bv : f32
      %nv = arith.select %gt, %x, %bv : f32
      %ni = arith.select %gt, %ji, %bi : i32
      linalg.yield %nv, %ni : f32, i32
  } -> (tensor<3xf32>, tensor<3xi32>)
  return %0#1 : tensor<3xi32>
}

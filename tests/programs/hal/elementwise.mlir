// Elementwise chains over f32, i32 and i8 tensors, static and dynamic shapes.
func.func @chain(%a: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<16xf32> {
  %0 = arith.addf %a, %b : tensor<16xf32>
  %1 = arith.mulf %0, %a : tensor<16xf32>
  %2 = arith.subf %1, %b : tensor<16xf32>
  %3 = arith.divf %2, %b : tensor<16xf32>
  %4 = math.absf %3 : tensor<16xf32>
  %5 = math.sqrt %4 : tensor<16xf32>
  return %5 : tensor<16xf32>
}

func.func @transcendental(%a: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0 = math.exp %a : tensor<8xf32>
  %1 = math.tanh %a : tensor<8xf32>
  %2 = math.floor %a : tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

func.func @int_ops(%a: tensor<8xi32>, %b: tensor<8xi32>) -> (tensor<8xi32>, tensor<8xi32>, tensor<8xi1>) {
  %0 = arith.muli %a, %b : tensor<8xi32>
  %1 = arith.xori %0, %a : tensor<8xi32>
  %2 = arith.shrsi %1, %b : tensor<8xi32>
  %3 = arith.maxsi %a, %b : tensor<8xi32>
  %4 = arith.cmpi slt, %a, %b : tensor<8xi32>
  return %2, %3, %4 : tensor<8xi32>, tensor<8xi32>, tensor<8xi1>
}

// Narrow integers (VMVX has no f16 arithmetic; f16 tensors are in halfs*.mlir).
func.func @i8_ops(%a: tensor<8xi8>, %b: tensor<8xi8>) -> (tensor<8xi8>, tensor<8xi32>) {
  %0 = arith.addi %a, %b : tensor<8xi8>
  %1 = arith.extsi %0 : tensor<8xi8> to tensor<8xi32>
  %2 = arith.extui %b : tensor<8xi8> to tensor<8xi32>
  %3 = arith.muli %1, %2 : tensor<8xi32>
  return %0, %3 : tensor<8xi8>, tensor<8xi32>
}

func.func @dynamic(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = arith.addf %a, %b : tensor<?x?xf32>
  %1 = arith.mulf %0, %0 : tensor<?x?xf32>
  return %1 : tensor<?x?xf32>
}

func.func @select_cast(%a: tensor<6xf32>, %b: tensor<6xi32>) -> (tensor<6xf32>, tensor<6xi32>) {
  %f = arith.sitofp %b : tensor<6xi32> to tensor<6xf32>
  %c = arith.cmpf ogt, %a, %f : tensor<6xf32>
  %s = arith.select %c, %a, %f : tensor<6xi1>, tensor<6xf32>
  %i = arith.fptosi %a : tensor<6xf32> to tensor<6xi32>
  return %s, %i : tensor<6xf32>, tensor<6xi32>
}

// Enough exp/log values that a last-ulp difference from the C library would show.
func.func @exp_log(%a: tensor<4x64xf32>) -> (tensor<4x64xf32>, tensor<4x64xf32>) {
  %0 = math.exp %a : tensor<4x64xf32>
  %1 = math.absf %a : tensor<4x64xf32>
  %2 = math.log %1 : tensor<4x64xf32>
  return %0, %2 : tensor<4x64xf32>, tensor<4x64xf32>
}

// Denormal operands and results: IREE's local HAL runs command buffer dispatches
// with denormals flushed to zero (hal_loader's inline dispatches do not).
func.func @denormals(%a: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %0 = arith.mulf %a, %b : tensor<2x8xf32>
  %1 = arith.addf %a, %b : tensor<2x8xf32>
  %2 = arith.divf %a, %b : tensor<2x8xf32>
  %3 = math.log %a : tensor<2x8xf32>
  %4 = math.rsqrt %a : tensor<2x8xf32>
  %5 = math.sin %a : tensor<2x8xf32>
  %6 = math.exp %b : tensor<2x8xf32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

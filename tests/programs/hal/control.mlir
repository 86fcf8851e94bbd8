// Host control flow on device results: each iteration reads a reduction back to decide
// whether to go on, so one call submits a data-dependent number of dispatches.
func.func @double_until(%x: tensor<4xf32>, %limit: f32) -> (tensor<4xf32>, tensor<i32>) {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r:2 = scf.while (%v = %x, %n = %c0) : (tensor<4xf32>, i32) -> (tensor<4xf32>, i32) {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<f32>
    %init = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
    %s = linalg.reduce ins(%v : tensor<4xf32>) outs(%init : tensor<f32>) dimensions = [0]
      (%in: f32, %acc: f32) {
        %a = arith.addf %in, %acc : f32
        linalg.yield %a : f32
      }
    %sv = tensor.extract %s[] : tensor<f32>
    %lt = arith.cmpf olt, %sv, %limit : f32
    scf.condition(%lt) %v, %n : tensor<4xf32>, i32
  } do {
  ^bb0(%v: tensor<4xf32>, %n: i32):
    %d = arith.addf %v, %v : tensor<4xf32>
    %n1 = arith.addi %n, %c1 : i32
    scf.yield %d, %n1 : tensor<4xf32>, i32
  }
  %count = tensor.from_elements %r#1 : tensor<i32>
  return %r#0, %count : tensor<4xf32>, tensor<i32>
}
func.func @branchy(%x: tensor<6xi32>, %k: i32) -> tensor<6xi32> {
  %c0 = arith.constant 0 : index
  %first = tensor.extract %x[%c0] : tensor<6xi32>
  %big = arith.cmpi sgt, %first, %k : i32
  %r = scf.if %big -> tensor<6xi32> {
    %a = arith.muli %x, %x : tensor<6xi32>
    scf.yield %a : tensor<6xi32>
  } else {
    %b = arith.subi %x, %x : tensor<6xi32>
    %c = tensor.insert %k into %b[%c0] : tensor<6xi32>
    scf.yield %c : tensor<6xi32>
  }
  return %r : tensor<6xi32>
}

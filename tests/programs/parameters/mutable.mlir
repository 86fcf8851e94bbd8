// A mutable global initialised from a parameter: updated by each call.
util.global private mutable @acc = #flow.parameter.named<"model"::"acc"> : tensor<4xi32>

func.func @step(%x: tensor<4xi32>) -> tensor<4xi32> {
  %a = util.global.load @acc : tensor<4xi32>
  %s = arith.addi %a, %x : tensor<4xi32>
  util.global.store %s, @acc : tensor<4xi32>
  return %s : tensor<4xi32>
}

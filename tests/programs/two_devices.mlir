// Two devices (compile with --iree-hal-target-device=dev_a=local[0]
// --iree-hal-target-device=dev_b=local[1]): the middle step runs on dev_b, the
// barriers keep the compiler from folding the transfers away.
func.func @two_devices(%arg0: tensor<4xf32> {iree.abi.affinity = #hal.device.promise<@dev_a>}) -> (tensor<4xf32> {iree.abi.affinity = #hal.device.promise<@dev_a>}) {
  %0 = arith.addf %arg0, %arg0 : tensor<4xf32>
  %1 = flow.tensor.transfer %0 : tensor<4xf32> to #hal.device.promise<@dev_b>
  %b = util.optimization_barrier %1 : tensor<4xf32>
  %2 = arith.mulf %b, %b : tensor<4xf32>
  %3 = flow.tensor.transfer %2 : tensor<4xf32> to #hal.device.promise<@dev_a>
  %c = util.optimization_barrier %3 : tensor<4xf32>
  %4 = arith.addf %c, %arg0 : tensor<4xf32>
  return %4 : tensor<4xf32>
}

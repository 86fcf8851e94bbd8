// Identity functions over many element types and ranks: the values pass through
// unchanged, so iree-run-module's output is the formatting of its own parse.
func.func @f32(%a: tensor<?xf32>) -> tensor<?xf32> { return %a : tensor<?xf32> }
func.func @f32_2d(%a: tensor<?x?xf32>) -> tensor<?x?xf32> { return %a : tensor<?x?xf32> }
func.func @f32_3d(%a: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> { return %a : tensor<?x?x?xf32> }
func.func @f32_0d(%a: tensor<f32>) -> tensor<f32> { return %a : tensor<f32> }
func.func @f64(%a: tensor<?xf64>) -> tensor<?xf64> { return %a : tensor<?xf64> }
func.func @f16(%a: tensor<?xf16>) -> tensor<?xf16> { return %a : tensor<?xf16> }
func.func @bf16(%a: tensor<?xbf16>) -> tensor<?xbf16> { return %a : tensor<?xbf16> }
func.func @f8e4m3fn(%a: tensor<?xf8E4M3FN>) -> tensor<?xf8E4M3FN> { return %a : tensor<?xf8E4M3FN> }
func.func @f8e5m2(%a: tensor<?xf8E5M2>) -> tensor<?xf8E5M2> { return %a : tensor<?xf8E5M2> }
func.func @i1(%a: tensor<?xi1>) -> tensor<?xi1> { return %a : tensor<?xi1> }
func.func @i4(%a: tensor<4xi4>) -> tensor<4xi4> { return %a : tensor<4xi4> }
func.func @i8(%a: tensor<?xi8>) -> tensor<?xi8> { return %a : tensor<?xi8> }
func.func @ui8(%a: tensor<?xui8>) -> tensor<?xui8> { return %a : tensor<?xui8> }
func.func @si8(%a: tensor<?xsi8>) -> tensor<?xsi8> { return %a : tensor<?xsi8> }
func.func @i16(%a: tensor<?xi16>) -> tensor<?xi16> { return %a : tensor<?xi16> }
func.func @ui16(%a: tensor<?xui16>) -> tensor<?xui16> { return %a : tensor<?xui16> }
func.func @i32(%a: tensor<?xi32>) -> tensor<?xi32> { return %a : tensor<?xi32> }
func.func @ui32(%a: tensor<?xui32>) -> tensor<?xui32> { return %a : tensor<?xui32> }
func.func @i64(%a: tensor<?xi64>) -> tensor<?xi64> { return %a : tensor<?xi64> }
func.func @ui64(%a: tensor<?xui64>) -> tensor<?xui64> { return %a : tensor<?xui64> }
func.func @scalars(%a: i32, %b: i64, %c: f32) -> (i32, i64, f32) {
  return %a, %b, %c : i32, i64, f32
}
func.func @scalar_f64(%a: f64) -> f64 { return %a : f64 }
func.func @two(%a: tensor<?xf32>, %b: tensor<?xi32>) -> (tensor<?xi32>, tensor<?xf32>) {
  return %b, %a : tensor<?xi32>, tensor<?xf32>
}

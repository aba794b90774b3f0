// Bitmask NMS: one thread block compares 64 boxes against 64 others; the host then walks the
// masks once in score order. Boxes use the inclusive "+1" width convention.
#include <cuda_runtime.h>
#include <vector>
#include "gpu_nms.hpp"

namespace {

constexpr int kThreadsPerBlock = sizeof(unsigned long long) * 8;

__device__ inline float iou(const float* a, const float* b) {
  const float w = fmaxf(fminf(a[2], b[2]) - fmaxf(a[0], b[0]) + 1.f, 0.f);
  const float h = fmaxf(fminf(a[3], b[3]) - fmaxf(a[1], b[1]) + 1.f, 0.f);
  const float inter = w * h;
  const float area_a = (a[2] - a[0] + 1.f) * (a[3] - a[1] + 1.f);
  const float area_b = (b[2] - b[0] + 1.f) * (b[3] - b[1] + 1.f);
  const float uni = area_a + area_b - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

// mask[i * col_blocks + c] bit j: box i overlaps box c * 64 + j (j > i) by more than thresh.
__global__ void nms_mask_kernel(int n, float thresh, const float* boxes, int box_dim,
                                unsigned long long* mask) {
  const int row_start = blockIdx.y, col_start = blockIdx.x;
  const int row_size = min(n - row_start * kThreadsPerBlock, kThreadsPerBlock);
  const int col_size = min(n - col_start * kThreadsPerBlock, kThreadsPerBlock);
  if (row_start > col_start) return;

  __shared__ float block_boxes[kThreadsPerBlock * 4];
  if (threadIdx.x < col_size) {
    for (int c = 0; c < 4; ++c)
      block_boxes[threadIdx.x * 4 + c] =
          boxes[(kThreadsPerBlock * col_start + threadIdx.x) * box_dim + c];
  }
  __syncthreads();

  if (threadIdx.x < row_size) {
    const int i = kThreadsPerBlock * row_start + threadIdx.x;
    const float* box = boxes + i * box_dim;
    unsigned long long bits = 0;
    const int first = (row_start == col_start) ? threadIdx.x + 1 : 0;
    for (int j = first; j < col_size; ++j)
      if (iou(box, block_boxes + j * 4) > thresh) bits |= 1ULL << j;
    const int col_blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
    mask[i * col_blocks + col_start] = bits;
  }
}

}  // namespace

int _nms(int* keep_out, int* num_out, const float* boxes_host, int num_boxes, int box_dim,
         float nms_overlap_thresh, int device_id) {
  *num_out = 0;
  if (num_boxes == 0) return 0;
  cudaError_t err = cudaSetDevice(device_id);
  if (err != cudaSuccess) return err;

  const int col_blocks = (num_boxes + kThreadsPerBlock - 1) / kThreadsPerBlock;
  float* boxes_dev = nullptr;
  unsigned long long* mask_dev = nullptr;
  const size_t boxes_bytes = sizeof(float) * num_boxes * box_dim;
  const size_t mask_bytes = sizeof(unsigned long long) * num_boxes * col_blocks;
  std::vector<unsigned long long> mask_host(static_cast<size_t>(num_boxes) * col_blocks);

  if ((err = cudaMalloc(&boxes_dev, boxes_bytes)) == cudaSuccess &&
      (err = cudaMalloc(&mask_dev, mask_bytes)) == cudaSuccess &&
      (err = cudaMemcpy(boxes_dev, boxes_host, boxes_bytes, cudaMemcpyHostToDevice)) ==
          cudaSuccess) {
    const dim3 blocks(col_blocks, col_blocks);
    nms_mask_kernel<<<blocks, kThreadsPerBlock>>>(num_boxes, nms_overlap_thresh, boxes_dev,
                                                   box_dim, mask_dev);
    if ((err = cudaGetLastError()) == cudaSuccess)
      err = cudaMemcpy(mask_host.data(), mask_dev, mask_bytes, cudaMemcpyDeviceToHost);
  }
  cudaFree(boxes_dev);
  cudaFree(mask_dev);
  if (err != cudaSuccess) return err;

  std::vector<unsigned long long> removed(col_blocks, 0);
  int num_keep = 0;
  for (int i = 0; i < num_boxes; ++i) {
    const int block = i / kThreadsPerBlock, bit = i % kThreadsPerBlock;
    if (removed[block] & (1ULL << bit)) continue;
    keep_out[num_keep++] = i;
    const unsigned long long* row = mask_host.data() + static_cast<size_t>(i) * col_blocks;
    for (int c = block; c < col_blocks; ++c) removed[c] |= row[c];
  }
  *num_out = num_keep;
  return 0;
}

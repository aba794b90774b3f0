// Greedy NMS on a CUDA device; see nms_kernel.cu.
#pragma once

// boxes_host: num_boxes x box_dim floats ([x1, y1, x2, y2, score, ...]), already sorted by
// descending score. Writes the kept indices (into that order) to keep_out and their count to
// num_out. Returns 0 on success, or a cudaError_t code.
int _nms(int* keep_out, int* num_out, const float* boxes_host, int num_boxes, int box_dim,
         float nms_overlap_thresh, int device_id);

/* chart.h - a small RGB rasterizer for the comparison report: lines,
 * rectangles, text (stb_easy_font), grey images, and a line chart. */
#ifndef GAN_APPS_CHART_H
#define GAN_APPS_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct canvas {
    int width, height;
    uint8_t *rgb; /* width * height * 3, owned */
} canvas;

/* A white canvas; false when out of memory. */
bool canvas_create(canvas *c, int width, int height);
void canvas_free(canvas *c);
void canvas_rect(canvas *c, int x, int y, int w, int h, uint32_t rgb);
/* A line about `thickness` pixels wide, clipped to the canvas. */
void canvas_line(canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb, int thickness);
/* Text with its top-left corner at (x, y), each font pixel scale x scale. */
void canvas_text(canvas *c, int x, int y, const char *text, uint32_t rgb, int scale);
int canvas_text_width(const char *text, int scale);
/* An 8-bit grey image at (x, y). */
void canvas_grey(canvas *c, int x, int y, const uint8_t *pixels, int width, int height);
/* Writes the canvas as an RGB PNG, replaced atomically; false with a message in err. */
bool canvas_write_png(const canvas *c, const char *path, char *err, size_t err_size);

typedef struct chart_series {
    const char *label;
    const float *y; /* y[i] at x = i + 1 */
    int n;
    uint32_t rgb;
} chart_series;

/* A line chart of the series over a shared x axis, with axes, ticks, a
 * title, axis labels and a legend, written as a PNG. */
bool chart_write(const char *path, const char *title, const char *x_label, const char *y_label,
                 const chart_series *series, int n_series, char *err, size_t err_size);

#endif

/* chart.c - a small RGB rasterizer and line chart, text by stb_easy_font
 * (quads of a 7-pixel bitmap font), PNGs by stb_image_write. */
#define _POSIX_C_SOURCE 200809L
#include "chart.h"

#include "images.h"

#include <math.h>
#include <stb_easy_font.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool canvas_create(canvas *c, int width, int height)
{
    c->width = width;
    c->height = height;
    c->rgb = malloc((size_t)width * height * 3);
    if (c->rgb)
        memset(c->rgb, 255, (size_t)width * height * 3);
    return c->rgb != NULL;
}

void canvas_free(canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

static void plot(canvas *c, int x, int y, uint32_t rgb)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->rgb + ((size_t)y * c->width + x) * 3;
    p[0] = (uint8_t)(rgb >> 16), p[1] = (uint8_t)(rgb >> 8), p[2] = (uint8_t)rgb;
}

void canvas_rect(canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++)
            plot(c, i, j, rgb);
}

void canvas_line(canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb, int thickness)
{
    const double dx = x1 - x0, dy = y1 - y0, len = fmax(fabs(dx), fabs(dy));
    const int steps = (int)ceil(len) + 1, half = thickness / 2;
    for (int s = 0; s <= steps; s++) {
        const double t = steps ? (double)s / steps : 0.0;
        const int x = (int)lround(x0 + t * dx), y = (int)lround(y0 + t * dy);
        canvas_rect(c, x - half, y - half, thickness, thickness, rgb);
    }
}

void canvas_text(canvas *c, int x, int y, const char *text, uint32_t rgb, int scale)
{
    static char quads[64 * 1024]; /* 16 bytes a vertex, 4 vertices a quad */
    const int n = stb_easy_font_print(0, 0, (char *)text, NULL, quads, (int)sizeof quads);
    for (int q = 0; q < n; q++) {
        float v[2][2];
        for (int k = 0; k < 2; k++) /* corners 0 and 2 span the quad */
            memcpy(v[k], quads + (size_t)(4 * q + 2 * k) * 16, sizeof v[k]);
        canvas_rect(c, x + (int)lroundf(v[0][0] * scale), y + (int)lroundf(v[0][1] * scale),
                    (int)lroundf((v[1][0] - v[0][0]) * scale), (int)lroundf((v[1][1] - v[0][1]) * scale), rgb);
    }
}

int canvas_text_width(const char *text, int scale) { return stb_easy_font_width((char *)text) * scale; }

void canvas_grey(canvas *c, int x, int y, const uint8_t *pixels, int width, int height)
{
    for (int j = 0; j < height; j++)
        for (int i = 0; i < width; i++) {
            const uint8_t g = pixels[(size_t)j * width + i];
            plot(c, x + i, y + j, (uint32_t)g << 16 | (uint32_t)g << 8 | g);
        }
}

bool canvas_write_png(const canvas *c, const char *path, char *err, size_t err_size)
{
    return images_write_png(path, c->rgb, c->width, c->height, 3, err, err_size);
}

/* A round step for about `want` ticks over span. */
static double tick_step(double span, int want)
{
    const double raw = span / want, unit = pow(10.0, floor(log10(raw))), f = raw / unit;
    return unit * (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10);
}

bool chart_write(const char *path, const char *title, const char *x_label, const char *y_label,
                 const chart_series *series, int n_series, char *err, size_t err_size)
{
    enum { W = 960, H = 540, LEFT = 90, RIGHT = 30, TOP = 50, BOTTOM = 70, SCALE = 2 };
    const uint32_t ink = 0x222222, grid = 0xE4E4E4;
    canvas c;
    if (!canvas_create(&c, W, H)) {
        snprintf(err, err_size, "%s: out of memory", path);
        return false;
    }
    double lo = INFINITY, hi = -INFINITY;
    int n_max = 1;
    for (int s = 0; s < n_series; s++) {
        n_max = series[s].n > n_max ? series[s].n : n_max;
        for (int i = 0; i < series[s].n; i++)
            if (isfinite(series[s].y[i]))
                lo = fmin(lo, series[s].y[i]), hi = fmax(hi, series[s].y[i]);
    }
    if (!(lo <= hi))
        lo = 0, hi = 1;
    if (hi - lo < 1e-6)
        lo -= 0.5, hi += 0.5;
    const double ystep = tick_step(hi - lo, 6);
    lo = floor(lo / ystep) * ystep, hi = ceil(hi / ystep) * ystep;
    const int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    const double xs = (double)pw / (n_max > 1 ? n_max - 1 : 1), ys = ph / (hi - lo);
    char label[64];
    for (double v = lo; v <= hi + ystep / 2; v += ystep) { /* horizontal grid and y ticks */
        const int y = TOP + ph - (int)lround((v - lo) * ys);
        canvas_rect(&c, LEFT, y, pw, 1, grid);
        snprintf(label, sizeof label, "%g", fabs(v) < ystep / 1e6 ? 0.0 : v);
        canvas_text(&c, LEFT - 10 - canvas_text_width(label, SCALE), y - 6, label, ink, SCALE);
    }
    const double xstep = tick_step(n_max - 1 > 0 ? n_max - 1 : 1, 8);
    for (double v = 0; v <= n_max; v += xstep) { /* x ticks, from 1 */
        const double at = v < 1 ? 1 : v;
        const int x = LEFT + (int)lround((at - 1) * xs);
        canvas_rect(&c, x, TOP + ph, 1, 6, ink);
        snprintf(label, sizeof label, "%g", at);
        canvas_text(&c, x - canvas_text_width(label, SCALE) / 2, TOP + ph + 10, label, ink, SCALE);
    }
    for (int s = 0; s < n_series; s++)
        for (int i = 1; i < series[s].n; i++)
            if (isfinite(series[s].y[i - 1]) && isfinite(series[s].y[i]))
                canvas_line(&c, LEFT + (i - 1) * xs, TOP + ph - (series[s].y[i - 1] - lo) * ys, LEFT + i * xs,
                            TOP + ph - (series[s].y[i] - lo) * ys, series[s].rgb, 2);
    canvas_rect(&c, LEFT, TOP, 1, ph + 1, ink); /* axes */
    canvas_rect(&c, LEFT, TOP + ph, pw, 1, ink);
    canvas_text(&c, LEFT, 15, title, ink, SCALE + 1);
    canvas_text(&c, LEFT + pw / 2 - canvas_text_width(x_label, SCALE) / 2, H - 30, x_label, ink, SCALE);
    canvas_text(&c, 8, TOP - 22, y_label, ink, SCALE);
    int lx = LEFT + pw - 10, ly = TOP + 10, widest = 0; /* legend, top right, on white */
    for (int s = 0; s < n_series; s++)
        widest = canvas_text_width(series[s].label, SCALE) > widest ? canvas_text_width(series[s].label, SCALE) : widest;
    canvas_rect(&c, lx - widest - 50, ly - 6, widest + 56, 22 * n_series + 8, 0xFFFFFF);
    for (int s = 0; s < n_series; s++) {
        const int w = canvas_text_width(series[s].label, SCALE);
        canvas_rect(&c, lx - w - 40, ly + 6, 28, 4, series[s].rgb);
        canvas_text(&c, lx - w, ly, series[s].label, ink, SCALE);
        ly += 22;
    }
    const bool ok = canvas_write_png(&c, path, err, err_size);
    canvas_free(&c);
    return ok;
}

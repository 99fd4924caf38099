/* test_image_folder.c - the training apps' image folders: files found
 * recursively, each format decoded, the centred square kept and resized,
 * grey or colour chosen, broken files skipped and counted, and the
 * background decoder giving the cache's very bytes. The images are made
 * here with stb_image_write and giflib. */
#include "image_folder.h"
#include "test_util.h"

#include <gif_lib.h>
#include <stb_image_write.h>
#include <sys/stat.h>

enum { SIZE = 24 };

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

/* w x h pixels of `fill`, with the columns left of x0 and from x1 on, and
 * the rows above y0 and from y1 on, in `edge` instead. */
static uint8_t *picture(int w, int h, rgb fill, rgb edge, int x0, int x1, int y0, int y1)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const rgb c = x >= x0 && x < x1 && y >= y0 && y < y1 ? fill : edge;
            memcpy(p + ((size_t)y * w + x) * 3, &c, 3);
        }
    return p;
}

/* A one-colour GIF through giflib. */
static void write_gif(const char *path, int side, rgb colour)
{
    int error;
    GifFileType *gif = EGifOpenFileName(path, false, &error);
    ColorMapObject *map = GifMakeMapObject(2, (GifColorType[]){{colour.r, colour.g, colour.b}, {0, 0, 0}});
    bool ok = gif && map && EGifPutScreenDesc(gif, side, side, 1, 0, map) == GIF_OK &&
              EGifPutImageDesc(gif, 0, 0, side, side, false, NULL) == GIF_OK;
    GifPixelType row[64] = {0};
    for (int y = 0; ok && y < side; y++)
        ok = EGifPutLine(gif, row, side) == GIF_OK;
    ok = gif && EGifCloseFile(gif, &error) == GIF_OK && ok;
    GifFreeMapObject(map);
    if (!ok) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* The largest channel difference between image i of the cache and colour. */
static int off_by(const uint8_t *images, int i, int channels, const uint8_t *colour)
{
    int worst = 0;
    for (int p = 0; p < SIZE * SIZE; p++)
        for (int c = 0; c < channels; c++) {
            const int d = abs(images[((size_t)i * SIZE * SIZE + p) * channels + c] - colour[c]);
            worst = d > worst ? d : worst;
        }
    return worst;
}

static image_folder *open_folder(const char *dir, int channels, size_t cache_limit)
{
    char err[512];
    image_folder *f = image_folder_open(dir, SIZE, channels, cache_limit, "test_image_folder", err, sizeof err);
    if (!f) {
        fprintf(stderr, "image_folder_open(%s): %s\n", dir, err);
        exit(1);
    }
    return f;
}

int main(void)
{
    test_temp_dir_create("image_folder");
    const rgb green = {0, 200, 0}, orange = {200, 100, 50}, navy = {10, 20, 30}, yellow = {255, 255, 0};
    const rgb red = {255, 0, 0}, black = {0, 0, 0};
    char colour_dir[512], sub[600], grey_dir[512], empty_dir[512], path[700];
    snprintf(colour_dir, sizeof colour_dir, "%s", test_path("colour"));
    snprintf(sub, sizeof sub, "%s/sub", colour_dir);
    snprintf(grey_dir, sizeof grey_dir, "%s", test_path("grey"));
    snprintf(empty_dir, sizeof empty_dir, "%s", test_path("empty"));
    mkdir(colour_dir, 0755), mkdir(sub, 0755), mkdir(grey_dir, 0755), mkdir(empty_dir, 0755);

    /* a wide PNG whose centred square is green between red thirds; a tall
     * JPEG whose centred square is orange between black quarters; a small
     * BMP (upscaled); a GIF one folder down */
    uint8_t *wide = picture(90, 30, green, red, 30, 60, 0, 30), *tall = picture(40, 80, orange, black, 0, 40, 20, 60);
    uint8_t *small = picture(20, 20, navy, navy, 0, 20, 0, 20);
    snprintf(path, sizeof path, "%s/a.png", colour_dir);
    CHECK(stbi_write_png(path, 90, 30, 3, wide, 90 * 3));
    size_t png_bytes;
    uint8_t *png = test_read_file(path, &png_bytes);
    snprintf(path, sizeof path, "%s/b.jpg", colour_dir);
    CHECK(stbi_write_jpg(path, 40, 80, 3, tall, 95));
    snprintf(path, sizeof path, "%s/c.bmp", colour_dir);
    CHECK(stbi_write_bmp(path, 20, 20, 3, small));
    snprintf(path, sizeof path, "%s/d.gif", sub);
    write_gif(path, 32, yellow);
    /* broken: empty, text under an image's name, a PNG cut in half, and a
     * hidden file, which is not looked at */
    snprintf(path, sizeof path, "%s/e_empty.png", colour_dir);
    test_write_file(path, "", 0);
    snprintf(path, sizeof path, "%s/f_text.jpg", sub);
    test_write_file(path, "not a picture\n", 14);
    snprintf(path, sizeof path, "%s/g_cut.png", colour_dir);
    test_write_file(path, png, png_bytes / 2);
    snprintf(path, sizeof path, "%s/.hidden.png", colour_dir);
    test_write_file(path, png, png_bytes);

    /* cached: 4 images in path order, 3 files skipped */
    image_folder *f = open_folder(colour_dir, 0, (size_t)1 << 20);
    image_folder_info in = image_folder_describe(f);
    CHECK(in.count == 4 && in.skipped == 3 && in.upscaled == 1);
    CHECK(in.channels == 3 && !in.grey && in.cached && in.bytes == 4u * SIZE * SIZE * 3);
    const uint8_t *cache = image_folder_cache(f);
    CHECK(cache != NULL);
    if (cache) {
        const int png_off = off_by(cache, 0, 3, &green.r), jpg_off = off_by(cache, 1, 3, &orange.r);
        const int bmp_off = off_by(cache, 2, 3, &navy.r), gif_off = off_by(cache, 3, 3, &yellow.r);
        printf("image_folder: centred squares resized to %dx%d: PNG off by %d, JPEG %d, BMP %d, GIF %d\n", SIZE,
               SIZE, png_off, jpg_off, bmp_off, gif_off);
        CHECK(png_off <= 1 && jpg_off <= 6 && bmp_off <= 1 && gif_off <= 1);
    }

    /* not cached: the background thread decodes what is asked, to the
     * cache's bytes; the cut PNG (whose header reads) decodes only now,
     * and another image of its batch stands in for it */
    image_folder *streamed = open_folder(colour_dir, 0, 0);
    const image_folder_info sin = image_folder_describe(streamed);
    CHECK(!sin.cached && image_folder_cache(streamed) == NULL && sin.count == 5 && sin.skipped == 2);
    char err[256];
    const size_t image_bytes = (size_t)SIZE * SIZE * 3;
    /* in path order the cut PNG comes fourth, before sub/d.gif */
    CHECK(image_folder_request(streamed, (const int[]){4, 0, 1}, 3, err, sizeof err));
    const uint8_t *batch = image_folder_take(streamed);
    CHECK(cache && memcmp(batch, cache + 3 * image_bytes, image_bytes) == 0 &&
          memcmp(batch + image_bytes, cache, 2 * image_bytes) == 0);
    CHECK(image_folder_request(streamed, (const int[]){3, 2}, 2, err, sizeof err));
    batch = image_folder_take(streamed);
    CHECK(cache && memcmp(batch, cache + 2 * image_bytes, image_bytes) == 0 &&
          memcmp(batch + image_bytes, cache + 2 * image_bytes, image_bytes) == 0);
    CHECK(image_folder_request(streamed, (const int[]){0}, 1, err, sizeof err)); /* freed while decoding */
    image_folder_free(streamed);
    printf("image_folder: the background decoder gives the cache's bytes; a file that fails stands replaced\n");

    /* colour made grey by request: stb_image's luma of green */
    image_folder *made_grey = open_folder(colour_dir, 1, (size_t)1 << 20);
    const uint8_t luma = (uint8_t)((0 * 77 + 200 * 150 + 0 * 29) >> 8);
    CHECK(image_folder_describe(made_grey).channels == 1 && off_by(image_folder_cache(made_grey), 0, 1, &luma) <= 1);
    image_folder_free(made_grey);
    image_folder_free(f);

    /* grey files (grey, grey with alpha) make a grey folder */
    uint8_t grey_pixels[30 * 30 * 2];
    for (int i = 0; i < 30 * 30; i++)
        grey_pixels[2 * i] = 90, grey_pixels[2 * i + 1] = 255;
    snprintf(path, sizeof path, "%s/grey_alpha.png", grey_dir);
    CHECK(stbi_write_png(path, 30, 30, 2, grey_pixels, 30 * 2));
    snprintf(path, sizeof path, "%s/grey.png", grey_dir); /* stb's JPEGs are always YCbCr */
    CHECK(stbi_write_png(path, 30, 15, 1, grey_pixels, 30));
    image_folder *g = open_folder(grey_dir, 0, (size_t)1 << 20);
    const image_folder_info gin = image_folder_describe(g);
    CHECK(gin.grey && gin.channels == 1 && gin.count == 2 && gin.upscaled == 1);
    image_folder_free(g);
    printf("image_folder: a folder of grey files is grey (1 channel); colour made grey by request\n");

    /* nothing usable: errors naming the folder */
    char message[1024];
    snprintf(path, sizeof path, "%s/only.txt", empty_dir);
    test_write_file(path, "text", 4);
    CHECK(!image_folder_open(empty_dir, SIZE, 0, 0, "test_image_folder", message, sizeof message));
    CHECK(strstr(message, empty_dir) && strstr(message, "no usable image"));
    snprintf(path, sizeof path, "%s/missing", empty_dir);
    CHECK(!image_folder_open(path, SIZE, 0, 0, "test_image_folder", message, sizeof message));
    CHECK(strstr(message, path) && strstr(message, "cannot read the folder"));
    printf("image_folder: no usable image and no folder are errors naming the folder\n");

    free(wide), free(tall), free(small), free(png);
    test_temp_dir_remove();
    return test_finish("test_image_folder");
}

/* compare_main.c - the GAN vs DCGAN comparison of the tutorials: trains the
 * fully connected `gan` and the `dcgan` on the same data, seed and epochs
 * (each run resumable in its own folder), then writes the report folder:
 * the final grids side by side, the loss curves of both in one chart, and
 * report.md with a table per epoch and a conclusion drawn from the numbers;
 * each run's folder keeps its progress.gif, metrics and TensorBoard log. */
#define _POSIX_C_SOURCE 200809L
#include "chart.h"
#include "files.h"
#include "options.h"
#include "trainer.h"

#include <errno.h>
#include <gan.h>
#include <math.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *program = "compare";
static const char *const models[2] = {"gan", "dcgan"};

enum { PATH_MAX_LEN = 700 };

typedef struct step_row {
    int epoch;
    double loss_d, loss_g, d_x, d_g_z1, d_g_z2, seconds;
} step_row;

typedef struct epoch_summary {
    int steps;
    double loss_d, loss_g, d_x, d_g_z; /* means over the epoch; D(G(z)) before D's step */
    double seconds;
} epoch_summary;

typedef struct run_metrics {
    step_row *rows;
    int n_rows;
    epoch_summary *epochs;
    int n_epochs;
    /* the evaluator's last score (scores.csv), when the run was scored */
    bool scored;
    int scored_epoch, classes_over_5pct;
    double fid, kid, entropy_bits;
} run_metrics;

/* The last row of a run's scores.csv, when there is one. */
static void read_scores(const char *path, run_metrics *m)
{
    FILE *f = fopen(path, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        long long epoch, step;
        int samples, classes;
        double fid, kid, kid_std, entropy;
        if (sscanf(line, "%lld,%lld,%d,%lf,%lf,%lf,%lf,%d", &epoch, &step, &samples, &fid, &kid, &kid_std, &entropy,
                   &classes) == 8)
            *m = (run_metrics){m->rows, m->n_rows, m->epochs, m->n_epochs, true, (int)epoch, classes, fid, kid, entropy};
    }
    if (f)
        fclose(f);
}

static bool read_metrics(const char *path, run_metrics *m)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot read %s: %s\n", program, path, strerror(errno));
        return false;
    }
    char line[512];
    int cap = 0;
    bool ok = fgets(line, sizeof line, f) != NULL; /* the header */
    while (ok && fgets(line, sizeof line, f)) {
        step_row r;
        long long step;
        if (sscanf(line, "%d,%lld,%lf,%lf,%lf,%lf,%lf,%lf", &r.epoch, &step, &r.loss_d, &r.loss_g, &r.d_x, &r.d_g_z1,
                   &r.d_g_z2, &r.seconds) != 8 || step != m->n_rows + 1 || r.epoch < 1) {
            fprintf(stderr, "%s: %s: row %d is not step %d of a run\n", program, path, m->n_rows + 1, m->n_rows + 1);
            ok = false;
            break;
        }
        if (m->n_rows == cap) {
            cap = cap ? 2 * cap : 1024;
            step_row *p = realloc(m->rows, sizeof *p * (size_t)cap);
            if (!p) {
                ok = false;
                break;
            }
            m->rows = p;
        }
        m->rows[m->n_rows++] = r;
    }
    fclose(f);
    if (!ok)
        return false;
    m->n_epochs = m->n_rows ? m->rows[m->n_rows - 1].epoch : 0;
    m->epochs = calloc((size_t)m->n_epochs + 1, sizeof *m->epochs);
    if (!m->epochs)
        return false;
    for (int i = 0; i < m->n_rows; i++) {
        const step_row *r = &m->rows[i];
        epoch_summary *e = &m->epochs[r->epoch - 1];
        e->steps++;
        e->loss_d += r->loss_d, e->loss_g += r->loss_g, e->d_x += r->d_x, e->d_g_z += r->d_g_z1;
        /* the seconds count from the start of each run: a resume restarts them */
        const bool restart = i == 0 || r->seconds < m->rows[i - 1].seconds;
        e->seconds += r->seconds - (restart ? 0.0 : m->rows[i - 1].seconds);
    }
    for (int k = 0; k < m->n_epochs; k++) {
        epoch_summary *e = &m->epochs[k];
        const double n = e->steps ? e->steps : 1;
        e->loss_d /= n, e->loss_g /= n, e->d_x /= n, e->d_g_z /= n;
    }
    return true;
}

/* A moving average of one column, over `window` steps. */
static float *smoothed(const run_metrics *m, bool generator, int window)
{
    float *y = malloc(sizeof *y * (size_t)(m->n_rows ? m->n_rows : 1));
    double sum = 0.0;
    for (int i = 0; y && i < m->n_rows; i++) {
        sum += generator ? m->rows[i].loss_g : m->rows[i].loss_d;
        if (i >= window)
            sum -= generator ? m->rows[i - window].loss_g : m->rows[i - window].loss_d;
        y[i] = (float)(sum / (i + 1 < window ? i + 1 : window));
    }
    return y;
}

static bool write_chart(const char *dir, const run_metrics m[2])
{
    const int window = m[0].n_rows / 100 > 1 ? m[0].n_rows / 100 : 1;
    float *y[4] = {smoothed(&m[0], false, window), smoothed(&m[0], true, window), smoothed(&m[1], false, window),
                   smoothed(&m[1], true, window)};
    const chart_series series[4] = {
        {"gan loss_D", y[0], m[0].n_rows, 0x1F77B4}, {"gan loss_G", y[1], m[0].n_rows, 0x9EC9E2},
        {"dcgan loss_D", y[2], m[1].n_rows, 0xD62728}, {"dcgan loss_G", y[3], m[1].n_rows, 0xFF9896},
    };
    char path[PATH_MAX_LEN + 32], title[128], err[PATH_MAX_LEN + 256];
    snprintf(path, sizeof path, "%s/losses.png", dir);
    if (window > 1)
        snprintf(title, sizeof title, "GAN vs DCGAN: losses (moving average of %d steps)", window);
    else
        snprintf(title, sizeof title, "GAN vs DCGAN: losses");
    bool ok = y[0] && y[1] && y[2] && y[3];
    if (ok && !chart_write(path, title, "step", "BCE", series, 4, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        ok = false;
    }
    for (int i = 0; i < 4; i++)
        free(y[i]);
    return ok;
}

/* The last epoch's grid of each run, side by side under their names. */
static bool write_final_grids(const char *dir, int epochs)
{
    uint8_t *grid[2] = {NULL, NULL};
    int w[2], h[2], channels;
    char path[PATH_MAX_LEN + 64], err[PATH_MAX_LEN + 256];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s/samples/epoch_%03d.png", dir, models[k], epochs);
        if (!(grid[k] = stbi_load(path, &w[k], &h[k], &channels, 1))) {
            fprintf(stderr, "%s: cannot read %s: %s\n", program, path, stbi_failure_reason());
            stbi_image_free(grid[0]);
            return false;
        }
    }
    enum { MARGIN = 20, CAPTION = 40, SCALE = 2 };
    canvas c;
    bool ok = canvas_create(&c, MARGIN * 3 + w[0] + w[1], CAPTION + MARGIN + (h[0] > h[1] ? h[0] : h[1]));
    if (ok) {
        char caption[64];
        for (int k = 0, x = MARGIN; k < 2; x += w[k] + MARGIN, k++) {
            snprintf(caption, sizeof caption, "%s, epoch %d", models[k], epochs);
            canvas_text(&c, x, 12, caption, 0x222222, SCALE);
            canvas_grey(&c, x, CAPTION, grid[k], w[k], h[k]);
        }
        snprintf(path, sizeof path, "%s/final_grids.png", dir);
        ok = canvas_write_png(&c, path, err, sizeof err);
        if (!ok)
            fprintf(stderr, "%s: %s\n", program, err);
        canvas_free(&c);
    }
    stbi_image_free(grid[0]);
    stbi_image_free(grid[1]);
    return ok;
}

/* x rounded to 1/scale, without a sign on zero */
static double rounded(double x, double scale) { return round(x * scale) / scale + 0.0; }

/* The mean loss_G of rows [from, to). */
static double mean_loss_g(const run_metrics *m, int from, int to)
{
    double sum = 0.0;
    for (int i = from; i < to; i++)
        sum += m->rows[i].loss_g;
    return to > from ? sum / (to - from) : NAN;
}

/* Images per second over the whole run. */
static double speed(const run_metrics *m, int batch)
{
    double seconds = 0.0;
    for (int k = 0; k < m->n_epochs; k++)
        seconds += m->epochs[k].seconds;
    return seconds > 0 ? (double)m->n_rows * batch / seconds : NAN;
}

static bool write_report(const char *dir, const char *dataset, const char *recipe, const run_metrics m[2], int epochs,
                         int batch, int64_t seed)
{
    char path[PATH_MAX_LEN + 32], tmp[PATH_MAX_LEN + 48];
    snprintf(path, sizeof path, "%s/report.md", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", program, tmp, strerror(errno));
        return false;
    }
    char how[128] = "the tutorials' recipe (Adam lr 2e-4, betas (0.5, 0.999), BCE on logits)";
    if (strcmp(recipe, "tutorial") != 0)
        snprintf(how, sizeof how, "the training programs' `--recipe %s` (`train_mnist --help` says what it sets)", recipe);
    fprintf(f, "# GAN vs DCGAN on %s\n\n", dataset);
    fprintf(f, "Both trained by libgan %d.%d.%d for %d epoch(s), batch %d, seed %lld, with %s. Each model's folder "
               "holds its sample grids, `progress.gif`, `metrics.csv`, TensorBoard log and checkpoint.\n\n",
            GAN_VERSION_MAJOR, GAN_VERSION_MINOR, GAN_VERSION_PATCH, epochs, batch, (long long)seed, how);
    fprintf(f, "| | gan | dcgan |\n| --- | --- | --- |\n");
    fprintf(f, "| samples during training | ![gan](gan/progress.gif) | ![dcgan](dcgan/progress.gif) |\n\n");
    fprintf(f, "![final grids](final_grids.png)\n\n![losses](losses.png)\n\n");
    fprintf(f, "## Sample quality\n\n");
    if (m[0].scored && m[1].scored) {
        fprintf(f, "The evaluator's scores of each generator (eval mode) against the test images, in its "
                   "classifier's features (`scores.csv` of each run; FID and KID: lower is closer).\n\n"
                   "| | gan | dcgan |\n| --- | --- | --- |\n| epoch | %d | %d |\n| FID | %.3f | %.3f |\n"
                   "| KID | %.5f | %.5f |\n| classes with 5%% or more | %d | %d |\n| entropy, bits | %.3f | %.3f |\n\n",
                m[0].scored_epoch, m[1].scored_epoch, m[0].fid, m[1].fid, m[0].kid, m[1].kid, m[0].classes_over_5pct,
                m[1].classes_over_5pct, m[0].entropy_bits, m[1].entropy_bits);
    } else {
        fprintf(f, "The runs were not scored: the evaluator's classifier for %s is missing "
                   "(`build/apps/train_classifier --dataset %s` makes it).\n\n", dataset, dataset);
    }
    fprintf(f, "## Per epoch\n\nMeans over each epoch's steps. D(G(z)) is before D's step; the balance is "
               "D(x) - D(G(z)): near 0 the discriminator cannot tell real from generated images, near 1 it "
               "always can.\n\n");
    for (int k = 0; k < 2; k++) {
        fprintf(f, "### %s\n\n| epoch | loss_D | loss_G | D(x) | D(G(z)) | balance | seconds |\n"
                   "| --- | --- | --- | --- | --- | --- | --- |\n", models[k]);
        for (int e = 0; e < m[k].n_epochs; e++) {
            const epoch_summary *s = &m[k].epochs[e];
            fprintf(f, "| %d | %.4f | %.4f | %.3f | %.3f | %.3f | %.2f |\n", e + 1, s->loss_d, s->loss_g, s->d_x,
                    s->d_g_z, rounded(s->d_x - s->d_g_z, 1e3), s->seconds);
        }
        fprintf(f, "\n");
    }
    /* the conclusion, from the numbers above */
    const epoch_summary *last[2] = {&m[0].epochs[m[0].n_epochs - 1], &m[1].epochs[m[1].n_epochs - 1]};
    const double gap[2] = {rounded(last[0]->d_x - last[0]->d_g_z, 1e3), rounded(last[1]->d_x - last[1]->d_g_z, 1e3)};
    const int closer = fabs(gap[1]) <= fabs(gap[0]);
    fprintf(f, "## Conclusion\n\n");
    fprintf(f, "- In the last epoch the discriminator's balance was %.3f for gan and %.3f for dcgan: %s's "
               "generator kept its discriminator closer to the point where it cannot tell generated images from "
               "real ones.\n", gap[0], gap[1], models[closer]);
    for (int k = 0; k < 2; k++) {
        const int tenth = m[k].n_rows / 10 > 0 ? m[k].n_rows / 10 : 1;
        const double first = mean_loss_g(&m[k], 0, tenth), now = mean_loss_g(&m[k], m[k].n_rows - tenth, m[k].n_rows);
        fprintf(f, "- %s's generator loss averaged %.3f over the first tenth of its %d steps and %.3f over the last "
                   "(%s).\n", models[k], first, m[k].n_rows, now,
                now > first ? "its discriminator gained on it" : "it gained on its discriminator");
    }
    if (m[0].scored && m[1].scored) {
        const int better = m[1].fid <= m[0].fid;
        fprintf(f, "- The evaluator puts %s's samples closer to the test images: FID %.3f against %.3f, with %d and "
                   "%d of the 10 classes holding 5%% or more of the samples (gan, dcgan).\n", models[better],
                m[better].fid, m[!better].fid, m[0].classes_over_5pct, m[1].classes_over_5pct);
    }
    const double v[2] = {speed(&m[0], batch), speed(&m[1], batch)};
    if (!isnan(v[0]) && !isnan(v[1]))
        fprintf(f, "- gan trained at %.0f images/s and dcgan at %.0f: the fully connected model's step is %.1fx %s.\n",
                v[0], v[1], v[0] >= v[1] ? v[0] / v[1] : v[1] / v[0], v[0] >= v[1] ? "faster" : "slower");
    fprintf(f, "- Compare the grids above: the numbers say how the two games went, the samples how the "
               "images look.\n");
    const bool ok = fclose(f) == 0 && rename(tmp, path) == 0;
    if (!ok)
        fprintf(stderr, "%s: cannot write %s: %s\n", program, path, strerror(errno));
    return ok;
}

int main(int argc, char **argv)
{
    const char *dataset = "mnist", *out = NULL, *data = NULL, *backend = "cpu", *recipe = "tutorial";
    int epochs = 5, batch = 128, threads = 0, device = 0, eval_count = 10000;
    int64_t seed = 1;
    bool no_verify = false;
    option opts[] = {
        {"--dataset", OPT_STRING, &dataset, 0, 32, "mnist or fashion-mnist", false},
        {"--data", OPT_STRING, &data, 0, PATH_MAX_LEN, "folder with the IDX files (none: the trainers' search)", false},
        {"--out", OPT_STRING, &out, 0, PATH_MAX_LEN, "report folder (none: runs/compare-DATASET-TIME); rerun to resume", false},
        {"--epochs", OPT_INT, &epochs, 1, 100000, "epochs for each model", false},
        {"--batch", OPT_INT, &batch, 2, 65536, "batch size", false},
        {"--seed", OPT_INT64, &seed, 0, 9e15, "random seed, the same for both", false},
        {"--recipe", OPT_STRING, &recipe, 0, 32, "the training programs' recipe: tutorial or best", false},
        {"--eval-count", OPT_INT, &eval_count, 2, 1000000, "samples each score takes", false},
        {"--threads", OPT_INT, &threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &backend, 0, 64, "cpu or opencl", false},
        {"--device", OPT_INT, &device, 0, 1024, "device index for --backend opencl", false},
        {"--no-verify", OPT_FLAG, &no_verify, 0, 0, "accept data files whose SHA-256 is not the published one", false},
    };
    switch (options_parse(opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, program,
                          "Trains gan and dcgan on the same data and seed, and writes a comparison report.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (strcmp(dataset, "mnist") != 0 && strcmp(dataset, "fashion-mnist") != 0) {
        fprintf(stderr, "%s: --dataset takes mnist or fashion-mnist, not '%s'\n", program, dataset);
        return 2;
    }
    char dir[PATH_MAX_LEN + 1];
    if (out) {
        snprintf(dir, sizeof dir, "%s", out);
    } else {
        char stamp[32];
        time_t t = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(dir, sizeof dir, "runs/compare-%s-%s", dataset, stamp);
    }
    if (!files_make_dirs(dir)) {
        fprintf(stderr, "%s: cannot create %s: %s\n", program, dir, strerror(errno));
        return 1;
    }
    const char *const report_stems[] = {"report.md", "final_grids.png", "losses.png"};
    files_remove_temporaries(dir, report_stems, 3);
    /* each model trains through the training program, resuming where an
     * earlier compare in this folder stopped */
    char run_dir[PATH_MAX_LEN + 16], probe[PATH_MAX_LEN + 48], n_epochs[16], n_batch[16], n_seed[24], n_threads[16],
        n_device[16], n_eval[16];
    snprintf(n_epochs, sizeof n_epochs, "%d", epochs);
    snprintf(n_batch, sizeof n_batch, "%d", batch);
    snprintf(n_seed, sizeof n_seed, "%lld", (long long)seed);
    snprintf(n_threads, sizeof n_threads, "%d", threads);
    snprintf(n_device, sizeof n_device, "%d", device);
    snprintf(n_eval, sizeof n_eval, "%d", eval_count);
    for (int k = 0; k < 2; k++) {
        snprintf(run_dir, sizeof run_dir, "%s/%s", dir, models[k]);
        snprintf(probe, sizeof probe, "%s/checkpoint.safetensors", run_dir);
        const bool resume = access(probe, F_OK) == 0;
        char *args[32] = {(char *)program};
        int n = 1;
#define ARG(x) (args[n++] = (char *)(x))
        if (resume) /* the checkpoint's settings must then agree with the flags */
            ARG("--resume"), ARG(run_dir);
        else
            ARG("--model"), ARG(models[k]), ARG("--out"), ARG(run_dir);
        ARG("--batch"), ARG(n_batch), ARG("--seed"), ARG(n_seed), ARG("--epochs"), ARG(n_epochs), ARG("--threads"), ARG(n_threads), ARG("--backend"), ARG(backend),
            ARG("--device"), ARG(n_device), ARG("--eval-every"), ARG("1"), ARG("--eval-count"), ARG(n_eval),
            ARG("--recipe"), ARG(recipe);
        if (data)
            ARG("--data"), ARG(data);
        if (no_verify)
            ARG("--no-verify");
#undef ARG
        printf("%s: %s %s in %s\n", program, resume ? "resuming" : "training", models[k], run_dir);
        fflush(stdout);
        const int status = trainer_main(n, args, dataset);
        if (status != 0)
            return status;
    }
    run_metrics m[2] = {{0}, {0}};
    int status = 1;
    for (int k = 0; k < 2; k++) {
        snprintf(probe, sizeof probe, "%s/%s/metrics.csv", dir, models[k]);
        if (!read_metrics(probe, &m[k]))
            goto done;
        snprintf(probe, sizeof probe, "%s/%s/scores.csv", dir, models[k]);
        read_scores(probe, &m[k]);
    }
    if (m[0].n_epochs < 1 || m[1].n_epochs < 1 || m[0].n_epochs != m[1].n_epochs) {
        fprintf(stderr, "%s: the runs in %s hold %d and %d epochs: train both to the same count\n", program, dir,
                m[0].n_epochs, m[1].n_epochs);
        goto done;
    }
    if (write_final_grids(dir, m[0].n_epochs) && write_chart(dir, m) &&
        write_report(dir, dataset, recipe, m, m[0].n_epochs, batch, seed)) {
        printf("%s: %s/report.md, final_grids.png and losses.png compare the two; gan/ and dcgan/ hold the runs\n",
               program, dir);
        status = 0;
    }
done:
    for (int k = 0; k < 2; k++)
        free(m[k].rows), free(m[k].epochs);
    return status;
}

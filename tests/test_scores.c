/* test_scores.c - the evaluator's scores against known answers: the
 * Frechet distance of Gaussians whose covariances commute (a closed form)
 * and of two that do not (worked by hand), means and covariances against
 * the textbook formula, KID against a direct double sum, and the class
 * histogram's entropy. */
#include "scores.h"
#include "test_util.h"

/* R diag(values) R^T with R a rotation by `angle` in the (0, 1) plane. */
static void rotated_diagonal(const double *values, double angle, double *out)
{
    const double c = cos(angle), s = sin(angle);
    const double r[9] = {c, -s, 0, s, c, 0, 0, 0, 1};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double v = 0;
            for (int k = 0; k < 3; k++)
                v += r[i * 3 + k] * values[k] * r[j * 3 + k];
            out[i * 3 + j] = v;
        }
}

static void check_frechet(void)
{
    char err[128];
    double fid = NAN;
    /* commuting: tr (A^1/2 B A^1/2)^1/2 = sum sqrt(a_i b_i) = 2 + 2 + 12 */
    double mean_a[3] = {0, 0, 0}, mean_b[3] = {1, 2, 2}, cov_a[9], cov_b[9];
    rotated_diagonal((const double[]){1, 4, 9}, 0.7, cov_a);
    rotated_diagonal((const double[]){4, 1, 16}, 0.7, cov_b);
    feature_stats a = {3, mean_a, cov_a}, b = {3, mean_b, cov_b};
    CHECK(frechet_distance(&a, &b, &fid, err, sizeof err));
    printf("scores: FID of commuting Gaussians %.12f (closed form 12)\n", fid);
    CHECK(fabs(fid - 12.0) < 1e-9);
    /* not commuting: A = [[2, 1], [1, 2]], B = diag(1, 0):
     * tr (B^1/2 A B^1/2)^1/2 = sqrt 2, so FID = 4 + 1 - 2 sqrt 2 */
    double m2[2] = {0, 0}, ca[4] = {2, 1, 1, 2}, cb[4] = {1, 0, 0, 0};
    feature_stats a2 = {2, m2, ca}, b2 = {2, m2, cb};
    CHECK(frechet_distance(&a2, &b2, &fid, err, sizeof err));
    printf("scores: FID of non-commuting Gaussians %.12f (by hand %.12f)\n", fid, 5.0 - 2.0 * sqrt(2.0));
    /* B's zero eigenvalue comes out as about 1e-16, whose root is 1e-8 */
    CHECK(fabs(fid - (5.0 - 2.0 * sqrt(2.0))) < 1e-7);
    feature_stats wrong = {3, mean_a, cov_a};
    CHECK(!frechet_distance(&a2, &wrong, &fid, err, sizeof err) && strstr(err, "differ"));
}

static void check_stats_and_kid(void)
{
    enum { N = 60, M = 50, D = 5 };
    float x[N * D], y[M * D];
    unsigned seed = 3;
    test_fill(x, N * D, -1.0f, 1.0f, &seed);
    test_fill(y, M * D, -0.5f, 1.5f, &seed); /* shifted */
    feature_stats sx, sy;
    CHECK(feature_stats_compute(x, N, D, &sx) && feature_stats_compute(y, M, D, &sy));
    /* mean and covariance as the textbook has them */
    double worst = 0;
    for (int j = 0; j < D; j++) {
        double mj = 0;
        for (int i = 0; i < N; i++)
            mj += x[i * D + j];
        mj /= N;
        worst = fmax(worst, fabs(mj - sx.mean[j]));
        for (int k = 0; k < D; k++) {
            double mk = 0, c = 0;
            for (int i = 0; i < N; i++)
                mk += x[i * D + k];
            mk /= N;
            for (int i = 0; i < N; i++)
                c += (x[i * D + j] - mj) * (x[i * D + k] - mk);
            worst = fmax(worst, fabs(c / (N - 1) - sx.cov[j * D + k]));
        }
    }
    CHECK(worst < 1e-12);
    double fid = NAN, self = NAN;
    char err[128];
    CHECK(frechet_distance(&sx, &sx, &self, err, sizeof err) && frechet_distance(&sx, &sy, &fid, err, sizeof err));
    printf("scores: FID of a set with itself %.2g, with a shifted set %.4f\n", self, fid);
    CHECK(fabs(self) < 1e-9 && fid > 0.5);
    feature_stats_free(&sx), feature_stats_free(&sy);

    /* KID over subsets as large as the sets is the whole sets' unbiased
     * MMD^2 (it does not depend on the order drawn) */
    double direct_xx = 0, direct_yy = 0, direct_xy = 0;
    const int n = M; /* the first M rows of x against y */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dxx = 0, dyy = 0, dxy = 0;
            for (int k = 0; k < D; k++) {
                dxx += (double)x[i * D + k] * x[j * D + k];
                dyy += (double)y[i * D + k] * y[j * D + k];
                dxy += (double)x[i * D + k] * y[j * D + k];
            }
            if (i != j) {
                direct_xx += pow(dxx / D + 1, 3);
                direct_yy += pow(dyy / D + 1, 3);
            }
            direct_xy += pow(dxy / D + 1, 3);
        }
    const double direct = (direct_xx + direct_yy) / ((double)n * (n - 1)) - 2 * direct_xy / ((double)n * n);
    double kid, kid_std;
    kernel_distance(x, n, y, n, D, 3, n, 9, &kid, &kid_std);
    printf("scores: KID %.9f, the direct double sum %.9f\n", kid, direct);
    CHECK(fabs(kid - direct) < 1e-9 && kid_std < 1e-9);
    /* the spread of equal subset scores is zero, not the root of a
     * rounding residue, whatever the number of subsets and the draws */
    double worst_std = 0;
    for (int subsets = 2; subsets <= 9; subsets++)
        for (uint64_t draws = 1; draws <= 8; draws++) {
            kernel_distance(x, n, y, n, D, subsets, n, draws, &kid, &kid_std);
            worst_std = fmax(worst_std, kid_std);
        }
    printf("scores: the largest spread of KID over whole-set subsets %.2g\n", worst_std);
    CHECK(worst_std < 1e-12);
    kernel_distance(x, N, x, N, D, 20, 30, 9, &self, &kid_std);
    CHECK(fabs(self) < 3 * kid_std + 1e-3 && kid > 10 * fabs(self));
}

static void check_histogram(void)
{
    const int predictions[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    class_spread s = class_histogram(predictions, 8, 10, 0.05);
    CHECK(s.counts[0] == 2 && s.counts[3] == 2 && s.counts[4] == 0);
    CHECK(fabs(s.entropy_bits - 2.0) < 1e-12 && s.classes_over_share == 4);
    const int skewed[20] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7};
    s = class_histogram(skewed, 20, 10, 0.06); /* 7 holds 5%, under 6% */
    CHECK(s.classes_over_share == 1 && s.counts[7] == 1);
}

int main(void)
{
    check_frechet();
    check_stats_and_kid();
    check_histogram();
    return test_finish("test_scores");
}

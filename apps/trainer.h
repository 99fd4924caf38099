/* trainer.h - the training program behind train_mnist, train_fashion and
 * train_images. */
#ifndef GAN_APPS_TRAINER_H
#define GAN_APPS_TRAINER_H

/* Runs the training program on the data set named dataset_key ("mnist",
 * "fashion-mnist"), or on a folder of images for "images"; returns the
 * process exit status. */
int trainer_main(int argc, char **argv, const char *dataset_key);

#endif

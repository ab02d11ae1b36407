// SPDX-License-Identifier: GPL-2.0

#include <linux/list.h>

void rust_helper_INIT_LIST_HEAD(struct list_head *list)
{
	INIT_LIST_HEAD(list);
}

void rust_helper_list_del_init(struct list_head *entry)
{
	list_del_init(entry);
}

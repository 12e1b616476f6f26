"""The storefront's reads as single statements: each answers a route in one round trip.

Each statement returns one row: the currency the answer is in (NULL: refused), the total
and the page already shaped as JSON (``json_build_object`` keeps the response models' key
order). The rules are those of the ORM services they replace, moved into SQL:

* currency: the requested one when enabled, else none; without a request, the default;
* price (``pricing.service.unit_prices`` at quantity 1): rules active now, for no customer
  group, for no country or the requested one; the override price list with the highest
  ``1 + priority`` having a row wins over the base price (rank 0), then the largest
  ``min_quantity`` ≤ 1; the best ``sale`` rule by (priority, percent) takes its percentage
  off, rounded half-up (``money.percent_of``), and the compare-at becomes the old amount
  when there was none;
* stock (``inventory.stock.available``): units over active locations, each ``max(0,
  on_hand - reserved)``; in stock when not tracked, backorderable or any unit is left;
* first image by (position, id).

Compiled once at import (``ReadQuery``); values are bound by psycopg on the client.
"""

from __future__ import annotations

from sqlalchemy import text

from storefleet.commerce.catalog.search import TRIGRAM_THRESHOLD
from storefleet.tenancy.reads import ReadQuery

_CURRENCY = """
cur AS (
  SELECT coalesce(
    (SELECT c.code FROM currency_settings c WHERE CAST(:currency AS text) IS NULL AND c.is_default),
    (SELECT c.code FROM currency_settings c
      WHERE c.code = CAST(:currency AS text) AND c.is_enabled)
  ) AS code
),
rules AS (
  SELECT r.id, r.kind, r.priority, r.percent_off_bp FROM price_rules r
  WHERE r.is_active
    AND (r.starts_at IS NULL OR r.starts_at <= now())
    AND (r.ends_at IS NULL OR r.ends_at > now())
    AND coalesce(r.customer_group, '') = ''
    AND (coalesce(r.country, '') = '' OR r.country = CAST(:country AS text))
),
sale AS (
  SELECT s.percent_off_bp AS pct FROM rules s
  WHERE s.kind = 'sale' AND coalesce(s.percent_off_bp, 0) <> 0
  ORDER BY s.priority DESC, s.percent_off_bp DESC LIMIT 1
)"""

# The unit price of variant ``v`` before the sale: the best-ranked price row at quantity 1.
_BASE_PRICE = """
LEFT JOIN LATERAL (
  SELECT x.amount, x.compare_at_amount FROM prices x
  LEFT JOIN rules r ON r.id = x.price_rule_id
  WHERE x.store_id = v.store_id AND x.variant_id = v.id
    AND x.currency = (SELECT code FROM cur) AND x.min_quantity <= 1
    AND (x.price_rule_id IS NULL OR r.kind = 'override')
  ORDER BY CASE WHEN x.price_rule_id IS NULL THEN 0 ELSE 1 + r.priority END DESC,
    x.min_quantity DESC, x.id
  LIMIT 1
) bp ON true
LEFT JOIN LATERAL (
  SELECT sum(greatest(0, i.on_hand - i.reserved)) AS units FROM inventory i
  JOIN inventory_locations l ON l.store_id = i.store_id AND l.id = i.location_id
  WHERE v.track_inventory AND i.store_id = v.store_id AND i.variant_id = v.id AND l.is_active
) st ON true"""

# Shopper-facing price and stock of the row ``bp`` / ``st`` / ``v`` joined above.
_PRICE_JSON = """json_build_object(
    'currency', (SELECT code FROM cur),
    'amount', CASE WHEN (SELECT pct FROM sale) IS NULL THEN bp.amount
      ELSE bp.amount - (bp.amount * (SELECT pct FROM sale) + 5000) / 10000 END,
    'compare_at_amount', CASE WHEN bp.amount IS NULL OR (SELECT pct FROM sale) IS NULL
      THEN bp.compare_at_amount ELSE coalesce(nullif(bp.compare_at_amount, 0), bp.amount) END
  )"""
_IN_STOCK = (
    "(v.id IS NOT NULL AND (NOT v.track_inventory OR v.allow_backorder "
    "OR coalesce(st.units, 0) > 0))"
)

_VISIBLE = (
    "p.status = 'active' AND p.published_at IS NOT NULL AND p.published_at <= now() "
    "AND p.deleted_at IS NULL"
)
_TSQUERY = "websearch_to_tsquery('simple'::regconfig, CAST(:q AS text))"
_SEARCH = (
    f"(p.search_vector @@ {_TSQUERY} "
    f"OR public.similarity(p.name, CAST(:q AS text)) > CAST({TRIGRAM_THRESHOLD} AS float8) "
    f"OR public.word_similarity(CAST(:q AS text), p.name) > CAST({TRIGRAM_THRESHOLD} AS float8))"
)
_RANK = (
    f"(ts_rank(p.search_vector, {_TSQUERY}) + greatest(public.similarity(p.name, "
    "CAST(:q AS text)), public.word_similarity(CAST(:q AS text), p.name)))"
)
_CATEGORY = """,
cat AS (
  SELECT c.id FROM categories c
  WHERE c.slug = CAST(:category AS text) AND c.is_active
    AND NOT EXISTS (
      SELECT 1 FROM categories a
      WHERE NOT a.is_active AND a.slug = ANY(trim_array(string_to_array(c.path, '/'), 1))
    )
)"""
_IN_CATEGORY = (
    "p.id IN (SELECT cp.product_id FROM category_products cp "
    "WHERE cp.category_id = (SELECT id FROM cat))"
)


def _list_sql(*, search: bool = False, category: bool = False) -> str:
    where = _VISIBLE
    if category:
        where += f" AND {_IN_CATEGORY}"
    if search:
        where += f" AND {_SEARCH}"
    rank, order, outer = ("0", "p.published_at DESC, p.id", "published_at DESC, id")
    if search:
        rank, order, outer = (_RANK, f"{_RANK} DESC, p.id", "rank DESC, id")
    found = "EXISTS (SELECT 1 FROM cat)" if category else "true"
    return f"""
WITH {_CURRENCY}{_CATEGORY if category else ""},
page AS (
  SELECT p.store_id, p.id, p.name, p.slug, p.vendor, p.brand, p.published_at, {rank} AS rank
  FROM products p WHERE {where}
  ORDER BY {order} LIMIT :limit OFFSET :offset
),
listed AS (
  SELECT pg.published_at, pg.id, pg.rank, json_build_object(
    'id', pg.id, 'name', pg.name, 'slug', pg.slug, 'vendor', pg.vendor, 'brand', pg.brand,
    'price', {_PRICE_JSON},
    'in_stock', {_IN_STOCK},
    'image', CASE WHEN im.url IS NULL THEN NULL
      ELSE json_build_object('url', im.url, 'alt', im.alt, 'variant_id', NULL) END
  ) AS item
  FROM page pg
  LEFT JOIN LATERAL (
    SELECT d.store_id, d.id, d.track_inventory, d.allow_backorder FROM product_variants d
    WHERE d.store_id = pg.store_id AND d.product_id = pg.id AND d.is_default
      AND d.deleted_at IS NULL
    LIMIT 1
  ) v ON true
  {_BASE_PRICE}
  LEFT JOIN LATERAL (
    SELECT i.url, i.alt FROM product_images i
    WHERE i.store_id = pg.store_id AND i.product_id = pg.id
    ORDER BY i.position, i.id LIMIT 1
  ) im ON true
)
SELECT (SELECT code FROM cur) AS currency, {found} AS found,
  (SELECT count(*) FROM products p WHERE {where}) AS total,
  (SELECT coalesce(json_agg(item ORDER BY {outer}), '[]'::json) FROM listed)::text AS items
"""  # noqa: S608 (module constants only; values are bound)


def _compiled(sql: str) -> ReadQuery:
    return ReadQuery.compile(text(sql))


PRODUCTS = _compiled(_list_sql())
CATEGORY_PRODUCTS = _compiled(_list_sql(category=True))
SEARCH = _compiled(_list_sql(search=True))

PRODUCT = _compiled(
    f"""
WITH {_CURRENCY},
product AS (
  SELECT p.* FROM products p WHERE p.slug = CAST(:slug AS text) AND {_VISIBLE} LIMIT 1
),
variants AS (
  SELECT v.position, v.id, json_build_object(
    'id', v.id, 'title', v.title, 'sku', v.sku, 'option_values', v.option_values,
    'is_default', v.is_default,
    'price', {_PRICE_JSON},
    'available', CASE WHEN v.track_inventory THEN coalesce(st.units, 0) END,
    'in_stock', {_IN_STOCK}
  ) AS item
  FROM product p
  JOIN product_variants v ON v.store_id = p.store_id AND v.product_id = p.id
    AND v.deleted_at IS NULL
  {_BASE_PRICE}
)
SELECT (SELECT code FROM cur) AS currency, p.id IS NOT NULL AS found, p.published_at,
  json_build_object(
  'id', p.id, 'name', p.name, 'slug', p.slug, 'description', p.description, 'kind', p.kind,
  'vendor', p.vendor, 'brand', p.brand, 'tags', p.tags, 'seo_title', p.seo_title,
  'seo_description', p.seo_description, 'requires_shipping', p.requires_shipping,
  'published_at', NULL,
  'options', (
    SELECT coalesce(json_agg(json_build_object('name', o.name, 'values', (
      SELECT coalesce(json_agg(ov.value ORDER BY ov.position), '[]'::json)
      FROM product_option_values ov WHERE ov.store_id = o.store_id AND ov.option_id = o.id
    )) ORDER BY o.position, o.id), '[]'::json)
    FROM product_options o WHERE o.store_id = p.store_id AND o.product_id = p.id
  ),
  'variants', (
    SELECT coalesce(json_agg(item ORDER BY position, id), '[]'::json) FROM variants
  ),
  'images', (
    SELECT coalesce(json_agg(json_build_object('url', i.url, 'alt', i.alt,
      'variant_id', i.variant_id) ORDER BY i.position, i.id), '[]'::json)
    FROM product_images i WHERE i.store_id = p.store_id AND i.product_id = p.id
  ),
  'categories', (
    SELECT coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'slug', c.slug,
      'path', c.path) ORDER BY c.path), '[]'::json)
    FROM categories c JOIN category_products cp
      ON cp.store_id = c.store_id AND cp.category_id = c.id
    WHERE cp.store_id = p.store_id AND cp.product_id = p.id AND c.is_active
  ),
  'currency', (SELECT code FROM cur)
)::text AS body
FROM (SELECT 1) one LEFT JOIN product p ON true
"""  # noqa: S608 (module constants only; values are bound)
)

CATEGORY_TREE = _compiled(
    """
SELECT c.id::text AS id, c.parent_id::text AS parent_id, c.name, c.slug, c.path,
  c.description, c.position
FROM categories c WHERE c.is_active
ORDER BY length(c.path) - length(replace(c.path, '/', '')), c.position, c.name
"""
)

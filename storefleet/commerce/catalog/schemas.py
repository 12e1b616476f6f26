"""Request and response bodies of the catalog API (admin and storefront).

One nested write creates or edits a product with its options, variants, prices, stock, images
and categories. PATCH semantics (documented in the README of the API and in ``ProductPatch``):
scalar fields change only when sent; ``options``, ``images`` and ``category_ids`` replace the
whole set when sent; ``variants`` are upserts (an item with ``id`` edits that variant, one
without creates a new variant; unmentioned variants stay as they are); ``remove_variant_ids``
soft-deletes variants. A variant's ``prices`` or ``stock``, when sent, replace all its prices
(respectively set on-hand at each location listed).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from storefleet.commerce.common import Amount, CurrencyCode, Page, Quantity, Slug, Strict, Tag
from storefleet.commerce.store.schemas import check_json_object, check_url
from storefleet.schemas import Grams, Position

Status = Literal["draft", "active", "archived"]
Kind = Literal["physical", "digital", "gift_card"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
ImageUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
    AfterValidator(check_url),
]
Metadata = Annotated[dict[str, Any], AfterValidator(check_json_object)]
OptionValue = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class OptionIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    values: Annotated[list[OptionValue], Field(min_length=1, max_length=100)]


class PriceIn(Strict):
    currency: CurrencyCode
    amount: Amount
    compare_at_amount: Amount | None = None
    cost_amount: Amount | None = None
    min_quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    price_rule_id: uuid.UUID | None = None  # an override price list's price


class StockIn(Strict):
    location_id: uuid.UUID | None = None
    location_code: Code | None = None
    on_hand: Quantity


class VariantFields(Strict):
    title: Text255 | None = None
    sku: Code | None = None
    barcode: Code | None = None
    option_values: dict[str, str] | None = None
    weight_grams: Grams | None = None
    track_inventory: bool | None = None
    allow_backorder: bool | None = None
    is_default: bool | None = None
    position: Position | None = None
    prices: Annotated[list[PriceIn], Field(max_length=200)] | None = None
    stock: Annotated[list[StockIn], Field(max_length=200)] | None = None


class VariantIn(VariantFields):
    """A new variant (create); unset flags take the defaults (tracked, no backorder)."""


class VariantPatch(VariantFields):
    """With ``id``: edit that variant (only the fields sent). Without: a new variant."""

    id: uuid.UUID | None = None


class ImageIn(Strict):
    url: ImageUrl
    alt: Text255 = ""
    position: Position | None = None
    variant_sku: Code | None = None


class ProductFields(Strict):
    slug: Slug | None = None
    description: Description | None = None
    status: Status | None = None
    kind: Kind | None = None
    vendor: Text255 | None = None
    brand: Text255 | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    seo_title: Text255 | None = None
    seo_description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    requires_shipping: bool | None = None
    tax_class_id: uuid.UUID | None = None
    published_at: datetime | None = None
    published: bool | None = None
    metadata: Metadata | None = None
    options: Annotated[list[OptionIn], Field(max_length=10)] | None = None
    images: Annotated[list[ImageIn], Field(max_length=100)] | None = None
    category_ids: Annotated[list[uuid.UUID], Field(max_length=100)] | None = None


class ProductCreate(ProductFields):
    name: Name
    variants: Annotated[list[VariantIn], Field(max_length=250)] = []


class ProductPatch(ProductFields):
    name: Name | None = None
    variants: Annotated[list[VariantPatch], Field(max_length=250)] | None = None
    remove_variant_ids: Annotated[list[uuid.UUID], Field(max_length=250)] = []


# --- responses ---------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OptionOut(Out):
    id: uuid.UUID
    name: str
    position: int
    values: list[str]


class PriceOut(Out):
    id: uuid.UUID
    currency: str
    amount: int
    compare_at_amount: int | None
    cost_amount: int | None
    min_quantity: int
    price_rule_id: uuid.UUID | None


class StockOut(Out):
    location_id: uuid.UUID
    location_code: str
    on_hand: int
    reserved: int
    available: int


class VariantOut(Out):
    id: uuid.UUID
    title: str
    sku: str | None
    barcode: str | None
    option_values: dict[str, str]
    weight_grams: int | None
    track_inventory: bool
    allow_backorder: bool
    is_default: bool
    position: int
    prices: list[PriceOut]
    stock: list[StockOut]


class ImageOut(Out):
    id: uuid.UUID
    url: str
    alt: str
    position: int
    variant_id: uuid.UUID | None


class CategoryRef(Out):
    id: uuid.UUID
    name: str
    slug: str
    path: str


class ProductSummary(Out):
    id: uuid.UUID
    name: str
    slug: str
    status: str
    kind: str
    vendor: str | None
    brand: str | None
    tags: list[str]
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ProductOut(ProductSummary):
    description: str
    seo_title: str | None
    seo_description: str | None
    requires_shipping: bool
    tax_class_id: uuid.UUID | None
    metadata: dict[str, Any]
    options: list[OptionOut]
    variants: list[VariantOut]
    images: list[ImageOut]
    categories: list[CategoryRef]


class ProductPage(Page[ProductSummary]):
    pass


# --- categories --------------------------------------------------------------------------


class CategoryCreate(Strict):
    name: Name
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None
    description: Description = ""
    position: Position = 0
    is_active: bool = True


class CategoryPatch(Strict):
    name: Name | None = None
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None  # sent as null: move to the root
    description: Description | None = None
    position: Position | None = None
    is_active: bool | None = None


class CategoryOut(Out):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    slug: str
    path: str
    description: str
    position: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


class CategoryPage(Page[CategoryOut]):
    pass


class CategoryProductsIn(Strict):
    product_ids: Annotated[list[uuid.UUID], Field(max_length=5000)]


class CategoryProductsOut(BaseModel):
    category_id: uuid.UUID
    product_ids: list[uuid.UUID]


# --- storefront --------------------------------------------------------------------------


class PublicPrice(BaseModel):
    currency: str
    amount: int | None
    compare_at_amount: int | None


class PublicImage(BaseModel):
    url: str
    alt: str
    variant_id: uuid.UUID | None = None


class PublicProductItem(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    vendor: str | None
    brand: str | None
    price: PublicPrice
    in_stock: bool
    image: PublicImage | None


class PublicProductPage(Page[PublicProductItem]):
    currency: str


class PublicVariant(BaseModel):
    id: uuid.UUID
    title: str
    sku: str | None
    option_values: dict[str, str]
    is_default: bool
    price: PublicPrice
    available: int | None  # None when stock is not tracked
    in_stock: bool


class PublicOption(BaseModel):
    name: str
    values: list[str]


class PublicProduct(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    kind: str
    vendor: str | None
    brand: str | None
    tags: list[str]
    seo_title: str | None
    seo_description: str | None
    requires_shipping: bool
    published_at: datetime | None
    options: list[PublicOption]
    variants: list[PublicVariant]
    images: list[PublicImage]
    categories: list[CategoryRef]
    currency: str


class PublicCategory(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    path: str
    description: str
    position: int
    children: list[PublicCategory] = []
